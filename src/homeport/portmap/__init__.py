"""Router port mapping: UPnP IGD, NAT-PMP and PCP behind one interface."""
