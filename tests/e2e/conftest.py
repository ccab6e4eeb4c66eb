from tests.lab.fixtures import cgnat_lab, dmz_lab, single_lab

__all__ = ["cgnat_lab", "dmz_lab", "single_lab"]
