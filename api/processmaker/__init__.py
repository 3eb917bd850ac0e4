"""The ProcessMaker 3 face (the seed `001_2ef3b8dd5a558f84.txt`): paths under
`/api/1.0/{workspace}/`, snake_case fields, dates as `YYYY-MM-DD HH:MM:SS` UTC, and errors as
`{"error": {"code": N, "message": "<Status title>: <text>"}}`. Meaning lives in the service
layer and the engine; this package only translates."""
