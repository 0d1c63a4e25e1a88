"""Reference job server: the central issuing system's side of job protocol v1.

Used by the demo, the tests and technicians testing a station. It stands
apart from the station: nothing here imports ``agent`` or ``drivers``.
"""
