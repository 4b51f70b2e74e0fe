"""The orders service: takes orders, prices them from inventory's catalog, keeps their history.

It is the system of record for orders (design section 5): ``POST /orders`` stores an order and
its ``order.created`` event atomically, the saga operator finishes or cancels it through the
internal endpoints, and a consumer of the inventory and payments topics keeps each order's
phase and timeline current. Layers: ``domain`` > ``service_layer`` > ``adapters`` >
``entrypoints``, wired by ``bootstrap``.
"""
