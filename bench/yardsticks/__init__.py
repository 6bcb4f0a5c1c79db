"""The two servers the app is compared with, serving the same digits task and the same JSON contract."""
