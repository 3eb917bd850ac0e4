"""The read model's document of a case (`projection.project`): ProcessMaker's delegations
(one per activation of a human task), who may claim and who sees each, how principals take
part in the case, and the case's APP_STATUS as it moves."""

from __future__ import annotations

from tests.unit.engine_helpers import T0, actor, at, definition, run, start_case
from workflows.engine.commands import (
    Assign,
    CancelCase,
    Claim,
    Complete,
    Delegate,
    DeleteCase,
    MergeFile,
    Pause,
    PauseEnded,
    Revoke,
    Transition,
    Unpause,
)
from workflows.engine.projection import CaseDoc, DelegationDoc, principals_of, project
from workflows.engine.state import CaseState, TeamMember

OWEN = actor("owen")  # the starter: a case owner
# who sees every task of the cases below: the owner, and the supervisors `sue` and `auditors`
# (named by user or group alike)
CASE_WIDE = {"user:owen", "user:sue", "group:sue", "user:auditors", "group:auditors"}
ALICE = actor("alice")  # a worker by name
CLERK = actor("clara", "clerks")  # a worker by group
TESS = actor("tess")  # a team member given the worker role
BOB = actor("bob")  # a delegate
SUE = actor("sue")  # a supervisor
ADAM = actor("adam", permissions=("PM_CANCELCASE", "PM_DELETECASE"))

DEFN = definition(
    {
        "roles": {"worker": {"users": ["alice"], "groups": ["clerks"]}, "requester": {}},
        "starterRole": "requester",
        "supervisors": ["sue", "auditors"],
        "plan": {
            "items": [
                {"id": "first", "type": "humanTask", "name": "First", "role": "worker", "route": {"to": [{"task": "second"}]}},
                {"id": "second", "type": "humanTask", "name": "Second", "role": "worker", "route": {"to": [{"task": "third"}]}},
                {"id": "third", "type": "humanTask", "name": "Third", "role": "worker", "assignment": {"rule": "MANUAL"}},
            ],
        },
    }
)

PAR = definition(
    {
        "roles": {"worker": {"users": ["alice"]}},
        "plan": {
            "items": [
                {"id": "a", "type": "humanTask", "name": "A", "role": "worker"},
                {"id": "b", "type": "humanTask", "name": "B", "role": "worker"},
            ]
        },
    }
)

SSE = definition(
    {
        "roles": {"worker": {"users": ["alice"]}},
        "inputs": {"pool": {"type": "array"}},
        "plan": {
            "items": [
                {
                    "id": "r", "type": "humanTask", "name": "R", "role": "worker",
                    "assignment": {"rule": "SELF_SERVICE_EVALUATE", "variable": "pool"},
                }
            ]
        },
    }
)


def new_case() -> CaseState:
    return start_case(DEFN, OWEN, team=[TeamMember(userId="tess", caseRoles=["worker"])])


def first_done() -> CaseState:
    s = run(new_case(), Claim(actor=ALICE, item_id="first"), at(1))
    return run(s, Complete(actor=ALICE, item_id="first"), at(2))


def delegation(doc: CaseDoc, item_id: str) -> DelegationDoc:
    return next(d for d in doc.delegations if d.item_id == item_id)


def kinds_of(doc: CaseDoc, principal: str) -> set[str]:
    return {p.kind for p in doc.participations if p.principal == principal}


# ------------------------------------------------------------------ delegations


def test_a_new_case_has_one_open_delegation() -> None:
    doc = project(new_case())
    assert doc.case_id == "case1" and doc.version == 1 and doc.state == "Active" and doc.definition_id == "test-case"
    assert [(d.del_index, d.item_id, d.open, d.current) for d in doc.delegations] == [(1, "first", True, True)]
    first = doc.delegations[0]
    assert (first.task_state, first.assignee, first.previous_user, first.delegated_at) == ("Unassigned", None, None, T0)  # nobody routed a case into its first task
    assert first.init_at is None and first.finished_at is None and first.role == "worker" and first.assign_rule == "SELF_SERVICE"


def test_each_activation_is_a_delegation_with_the_next_index() -> None:
    doc = project(first_done())
    assert [(d.del_index, d.item_id, d.open, d.current) for d in doc.delegations] == [
        (1, "first", False, False),
        (2, "second", True, True),
    ]
    first, second = doc.delegations
    assert (first.task_state, first.assignee, first.init_at, first.finished_at) == ("Completed", "alice", at(1), at(2))
    assert (second.previous_user, second.delegated_at, second.init_at) == ("alice", at(2), None)


def test_parallel_delegations_are_all_current() -> None:
    doc = project(start_case(PAR, OWEN))
    assert [(d.del_index, d.current) for d in doc.delegations] == [(1, True), (2, True)]


def test_a_closed_case_keeps_its_last_delegation_current() -> None:
    s = run(first_done(), Transition(actor=OWEN, item_id="casePlan", transition="terminate"), at(3))
    doc = project(s)
    assert [(d.item_id, d.open, d.current) for d in doc.delegations] == [("first", False, False), ("second", False, True)]
    assert delegation(doc, "second").finished_at == at(3) and delegation(doc, "second").task_state == "Terminated"
    assert doc.finished_at == at(3) and doc.state == "Terminated"


# ------------------------------------------------------------------ candidates and viewers


def test_candidates_are_who_may_claim_an_unassigned_task() -> None:
    doc = project(new_case())
    assert delegation(doc, "first").candidates == ["group:clerks", "user:alice", "user:tess"]
    claimed = project(run(new_case(), Claim(actor=CLERK, item_id="first"), at(1)))
    assert delegation(claimed, "first").candidates == []


def test_a_manual_task_has_no_candidates() -> None:
    s = run(first_done(), Claim(actor=TESS, item_id="second"), at(3))
    s = run(s, Complete(actor=TESS, item_id="second"), at(4))
    third = delegation(project(s), "third")
    assert third.open and third.assignee is None and third.candidates == []
    # offered to nobody: the team members of its role, owners and supervisors list it; a holder
    # of its role outside the team does not (the case does not exist for her)
    assert "user:tess" in third.viewers and "user:owen" in third.viewers
    assert "user:alice" not in third.viewers and "group:clerks" not in third.viewers


def test_a_finished_or_suspended_task_has_no_candidates() -> None:
    s = run(new_case(), Transition(actor=OWEN, item_id="first", transition="terminate"), at(1))
    assert delegation(project(s), "first").candidates == []
    s = run(run(new_case(), Claim(actor=ALICE, item_id="first"), at(1)), Revoke(actor=ALICE, item_id="first"), at(2))
    s = run(s, Pause(actor=SUE), at(3))
    assert delegation(project(s), "first").candidates == []
    s = run(s, Unpause(actor=SUE), at(4))
    assert delegation(project(s), "first").candidates == ["group:clerks", "user:alice", "user:tess"]


def test_self_service_evaluate_candidates_are_the_variables_entries() -> None:
    s = start_case(SSE, OWEN, inputs={"pool": ["bob", "group:auditors"]})
    assert delegation(project(s), "r").candidates == ["group:auditors", "user:bob"]
    s = run(s, MergeFile(actor=OWEN, data={"pool": "carol"}), at(1))
    assert delegation(project(s), "r").candidates == ["user:carol"]
    # who lists it: whom the variable names (it is offered to them) and the case owner; the
    # role's holder outside the team does not
    assert delegation(project(s), "r").viewers == ["user:carol", "user:owen"]


def test_viewers_are_the_roles_holders_the_holder_and_the_candidates() -> None:
    s = run(new_case(), Claim(actor=ALICE, item_id="first"), at(1))
    s = run(s, Delegate(actor=ALICE, item_id="first", assignee=BOB), at(2))
    first = delegation(project(s), "first")
    # the team members of its role, the holder and delegate, and case-wide: the owner and the
    # supervisors; not the role's group, to whom it is no longer offered
    assert set(first.viewers) == {"user:alice", "user:bob", "user:tess"} | CASE_WIDE
    assert (first.task_state, first.assignee, first.owner) == ("Delegated", "bob", "alice")


def test_principals_of_a_caller() -> None:
    assert principals_of(CLERK) == ["user:clara", "group:clerks"]
    assert principals_of(actor("u1").model_copy(update={"username": "una"})) == ["user:u1", "user:una"]


# ------------------------------------------------------------------ participations


def test_participations() -> None:
    s = run(first_done(), Assign(actor=OWEN, item_id="second", assignee=BOB), at(3))
    doc = project(s)
    assert kinds_of(doc, "user:owen") == {"owner", "member", "participant"}  # owner, starter
    assert kinds_of(doc, "user:tess") == {"member"}  # in the team with a role
    assert kinds_of(doc, "group:clerks") == set()  # the role's group: a pool, not the team
    assert kinds_of(doc, "user:alice") == {"participant"}  # the role's user who held a task
    assert kinds_of(doc, "user:bob") == {"member", "participant"}  # assigned: joined the team with the role
    assert kinds_of(doc, "user:sue") == kinds_of(doc, "group:sue") == {"supervisor"}
    assert kinds_of(doc, "group:auditors") == {"supervisor"}
    assert kinds_of(doc, "user:xavier") == set()
    assert len(doc.participations) == len({(p.principal, p.kind) for p in doc.participations})


# ------------------------------------------------------------------ APP_STATUS


def test_app_status_moves_from_draft_to_to_do_and_completed() -> None:
    s = new_case()
    assert project(s).app_status == "DRAFT"
    s = run(s, Claim(actor=ALICE, item_id="first"), at(1))
    assert project(s).app_status == "DRAFT"  # claimed is not routed
    s = run(s, Complete(actor=ALICE, item_id="first"), at(2))
    assert project(s).app_status == "TO_DO"
    s = run(s, Claim(actor=ALICE, item_id="second"), at(3))
    s = run(s, Complete(actor=ALICE, item_id="second"), at(4))
    s = run(s, Assign(actor=OWEN, item_id="third", assignee=ALICE), at(5))
    s = run(s, Complete(actor=ALICE, item_id="third"), at(6))
    doc = project(s)
    assert doc.app_status == "COMPLETED" and doc.state == "Completed" and doc.finished_at == at(6)


def test_app_status_while_paused() -> None:
    s = run(first_done(), Claim(actor=ALICE, item_id="second"), at(3))
    s = run(s, Pause(actor=ALICE, until=at(days=1)), at(4))
    doc = project(s)
    assert doc.app_status == "PAUSED" and doc.paused_until == at(days=1) and doc.state == "Suspended"
    assert delegation(doc, "second").open and delegation(doc, "second").task_state == "Suspended"
    s = run(s, PauseEnded(actor=actor("system")), at(days=1))
    doc = project(s)
    assert doc.app_status == "TO_DO" and doc.paused_until is None


def test_app_status_cancelled() -> None:
    s = run(new_case(), CancelCase(actor=ADAM), at(1))
    doc = project(s)
    assert doc.app_status == "CANCELLED" and not delegation(doc, "first").open
    # a plan terminated through the native face reads as cancelled too
    s = run(new_case(), Transition(actor=OWEN, item_id="casePlan", transition="terminate"), at(1))
    assert project(s).app_status == "CANCELLED"


def test_app_status_deleted() -> None:
    s = run(new_case(), DeleteCase(actor=ADAM), at(1))
    assert project(s).app_status == "DELETED"
