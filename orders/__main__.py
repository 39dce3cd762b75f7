"""``python -m orders``: see orders/main.py."""

from orders.main import main

main()
