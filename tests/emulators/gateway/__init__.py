"""The AWS API emulator gateway geolat's tests run (see ../aws_gateway.py,
its entry script, for what it serves and its control API)."""
