"""Pure protocol code: bytes or text in, values out, and back.

Nothing here opens a socket, reads a clock or draws a random number; whatever a
protocol needs of those (a transaction ID, a nonce, the time) is passed in.
"""
