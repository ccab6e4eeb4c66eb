"""Pure decisions: state machines, consensus, schedules and the zone model.

Every function that depends on time takes ``now`` as an argument.
"""
