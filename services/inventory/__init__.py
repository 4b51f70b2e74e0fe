"""The inventory service: the product catalog, its stock, and the reservations sagas hold on it.

The saga operator reserves an order's lines (all or nothing), then commits or releases them;
unclaimed reservations expire. Every change and its event are stored in one transaction and
relayed to ``kubesaga.inventory``. Orders reads prices from ``GET /products``.
"""
