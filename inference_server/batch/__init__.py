"""``glot-mocap batch``: analyse a whole shoot on Ray, on one machine or a cluster.

``inputs`` (INPUT arguments to videos and output paths), ``worker`` (the Ray actor keeping
models loaded), ``runner`` (the Ray session, worker plan, scheduling, retries, Ctrl-C),
``report`` (results, table, batch-report.json), ``cli`` (the command). Ray is imported only
inside ``runner``/``worker`` calls, so nothing else in the server needs it installed.
"""
