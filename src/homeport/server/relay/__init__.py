"""The relay inside ``homeport server`` (issue #13): public listeners routed by Host, SNI
or port to the home services of hosts that keep a tunnel session open."""
