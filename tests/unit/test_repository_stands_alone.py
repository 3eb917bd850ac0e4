"""The repository stands alone: no file refers to a path outside it.

A fresh `git clone` has nothing beside it, so a test, a document or a module that reads or
points at a sibling folder works on one machine and fails on the next. This test reads every
file git tracks or would add (`git ls-files`; the whole tree when git is not there), except
recorded histories, and fails naming the file and line of each
- mention of the design folder that used to sit beside the repository, of its design
  document or of its example definition (the repository's own are docs/ and examples/);
- piece of Python that climbs above the repository root from `__file__` (`.parents[N]`,
  `.parent` chains, `os.path.dirname` chains, `/ ".."`), or from a name that holds the root
  or a folder in it (`ROOT.parent`).

The patterns are built from pieces, so this file does not match them itself.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[2]

# Recorded workflow histories: data, not references (and large).
EXCLUDED = ("tests/histories/*.json",)
# Folders a tree walk skips: what git would not list either.
UNTRACKED_DIRS = {".git", ".venv", "venv", "data", "build", "node_modules", "__pycache__", ".pytest_cache"}

_SIBLING = "shared"
TEXT_PATTERNS = {
    "the sibling design folder": re.compile(re.escape("../" + _SIBLING)),
    "the sibling design document": re.compile(re.escape(_SIBLING + "/" + "DESIGN")),
    "the sibling example definition": re.compile(re.escape("DEFINITION" + "-" + "EXAMPLE")),
}


def tracked_files() -> list[str]:
    """Paths relative to ROOT, with forward slashes (each once)."""
    git = shutil.which("git")
    if git is not None and (ROOT / ".git").exists():
        try:
            out = subprocess.run(
                # tracked files, and new ones not yet added (unless .gitignore'd)
                [git, "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                check=True, capture_output=True, timeout=60,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            pass
        else:
            return sorted({p for p in out.decode("utf-8", "surrogateescape").split("\0") if p})
    found: list[str] = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in UNTRACKED_DIRS and not d.endswith(".egg-info")]
        for name in files:
            found.append(Path(folder, name).relative_to(ROOT).as_posix())
    return found


def files_to_check() -> list[str]:
    return sorted(
        p for p in tracked_files()
        if not any(PurePosixPath(p).match(pattern) for pattern in EXCLUDED) and (ROOT / p).is_file()
    )


def read_text(path: str) -> str | None:
    data = (ROOT / path).read_bytes()
    if b"\0" in data[:8192]:
        return None  # binary
    return data.decode("utf-8", "replace")


# ---------------------------------------------------------------- mentions


def mentions(path: str, text: str) -> list[str]:
    return [
        f"{path}:{number}: mentions {what}: {line.strip()[:160]}"
        for number, line in enumerate(text.splitlines(), 1)
        for what, pattern in TEXT_PATTERNS.items()
        if pattern.search(line)
    ]


# ---------------------------------------------------------------- Python that climbs out


class _Climbs(ast.NodeVisitor):
    """Finds path expressions that end above the repository root.

    A level is how many folders above the file's own path an expression points: `__file__`
    is 0, its `.parent` 1, `.parents[N]` N + 1, `/ ".."` one more and `/ "name"` one less.
    A file `depth` path components below ROOT reaches ROOT at level `depth`; anything
    higher is outside. Module-level names bound to such an expression carry its level, so
    `ROOT = Path(__file__).parents[1]` then `ROOT.parent` is caught too.
    """

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.names: dict[str, int] = {}
        self.lines: set[int] = set()

    def level(self, node: ast.AST) -> int | None:
        if isinstance(node, ast.Name):
            return 0 if node.id == "__file__" else self.names.get(node.id)
        if isinstance(node, ast.Attribute) and node.attr == "parent":
            below = self.level(node.value)
            return None if below is None else below + 1
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "parents":
            below = self.level(node.value.value)
            index = node.slice
            if below is None or not (isinstance(index, ast.Constant) and isinstance(index.value, int)):
                return None
            return below + index.value + 1
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            below = self.level(node.left)
            if below is None or not (isinstance(node.right, ast.Constant) and isinstance(node.right.value, str)):
                return None
            for part in node.right.value.split("/"):
                below += 1 if part == ".." else 0 if part in ("", ".") else -1
            return below
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("resolve", "absolute", "expanduser") and isinstance(func, ast.Attribute):
                return self.level(func.value)
            if name in ("Path", "PurePath", "PosixPath", "abspath", "realpath") and len(node.args) == 1:
                return self.level(node.args[0])
            if name == "dirname" and len(node.args) == 1:
                below = self.level(node.args[0])
                return None if below is None else below + 1
        return None

    def generic_visit(self, node: ast.AST) -> None:
        level = self.level(node)
        if level is not None and level > self.depth and hasattr(node, "lineno"):
            self.lines.add(node.lineno)
        super().generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.generic_visit(node)
        level = self.level(node.value)
        for target in node.targets:
            if isinstance(target, ast.Name) and level is not None:
                self.names[target.id] = level


def climbs(path: str, text: str) -> list[str]:
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        return [f"{path}:{exc.lineno}: not Python this test can read ({exc.msg})"]
    finder = _Climbs(depth=len(PurePosixPath(path).parts))
    # module-level bindings first, so a use above its definition (in a function) is seen too
    for statement in tree.body:
        if isinstance(statement, ast.Assign):
            finder.visit_Assign(statement)
    finder.lines.clear()
    finder.visit(tree)
    source = text.splitlines()
    return [
        f"{path}:{number}: climbs above the repository root: {source[number - 1].strip()[:160]}"
        for number in sorted(finder.lines)
    ]


# ---------------------------------------------------------------- the tests


def problems_in(path: str, text: str) -> list[str]:
    found = mentions(path, text)
    if path.endswith(".py"):
        found += climbs(path, text)
    return found


def test_no_file_refers_to_a_path_outside_the_repository() -> None:
    files = files_to_check()
    assert "README.md" in files and "tests/unit/test_repository_stands_alone.py" in files, "the file list is wrong"
    problems: list[str] = []
    for path in files:
        text = read_text(path)
        if text is not None:
            problems += problems_in(path, text)
    assert not problems, "files that refer outside the repository:\n" + "\n".join(problems)


def test_the_checks_catch_what_they_are_for() -> None:
    """Each kind of reference is caught, with its line; paths inside the repository are not."""
    sibling = "../" + _SIBLING
    assert problems_in("README.md", f"intro\nSee `{sibling}/NOTES.md`.\n") == [
        f"README.md:2: mentions the sibling design folder: See `{sibling}/NOTES.md`."
    ]
    assert len(problems_in("docs/x.md", _SIBLING + "/" + "DESIGN.md section 4")) == 1
    assert len(problems_in("tests/x.yaml", "# from DEFINITION" + "-" + "EXAMPLE.yaml")) == 1
    bad = [
        "X = Path(__file__).resolve().parents[3] / 'y'",  # tests/unit/f.py: parents[2] is the root
        "X = Path(__file__).parent.parent.parent.parent",
        "X = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))",
        "X = Path(__file__).parents[2] / '..' / 'y'",
        "ROOT = Path(__file__).resolve().parents[2]\nX = ROOT.parent / 'y'",
        "ROOT = Path(__file__).resolve().parents[2]\ndef f():\n    return ROOT.parents[0]",
        "HERE = Path(__file__).parent\nX = HERE / '../../..'",
    ]
    for code in bad:
        found = climbs("tests/unit/f.py", code)
        assert len(found) == 1 and "climbs above the repository root" in found[0], (code, found)
    assert climbs("tests/unit/f.py", "def f():\n    return ROOT.parent\nROOT = Path(__file__).parents[2]") != []
    good = [
        "ROOT = Path(__file__).resolve().parents[2]",
        "X = Path(__file__).parent.parent.parent / 'examples'",
        "ROOT = Path(__file__).resolve().parents[2]\nX = ROOT / 'examples' / '..' / 'docs'",
        "X = Path(sys.executable).parent / 'temporal'",  # not a path of the repository
        "X = path.parent.mkdir(parents=True)",
    ]
    for code in good:
        assert climbs("tests/unit/f.py", code) == [], code
