"""An example gogooku plugin: the ``icweight`` model kind and the ``range_position`` block."""
