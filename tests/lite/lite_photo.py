"""Facts about the sample photo the lite tests use (bus.jpg from the ultralytics wheel)."""

#: hand-measured square boxes [cx, cy, w, h] of the two fully visible people in bus.jpg
BUS_PEOPLE = ((153.0, 650.0, 500.0, 500.0), (282.0, 635.0, 450.0, 450.0))
