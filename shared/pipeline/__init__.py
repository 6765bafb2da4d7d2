"""The steps of one run — plan, preflight, stage, diff, apply, poll, finish, commit — as plain
functions over blob references. The orchestration sequences them; nothing here knows about Durable."""
