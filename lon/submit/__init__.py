"""``lon-submit``: one benchmark on one system, from plan to tarball, in one command.

The plan (``_plan``) comes from the official checker's own table of what a benchmark needs
(``_checker_table``, read from the user's mlcommons/inference clone) and from the settings each
run will have; each step runs as a process of its own (``_steps``), its outcome kept in a state
file (``_state``) so an interrupted plan resumes where it stopped; ``_finish`` fills what the
tool knows into the system description, seals, runs the checker and packs the tree.
"""
