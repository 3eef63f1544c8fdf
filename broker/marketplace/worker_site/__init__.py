"""The marketplace's worker site: accounts, HIT groups, preview/accept/return, externalSubmit.

Server-rendered (jinja2) so that the simulated crowd and a real browser use the same pages.
"""

from broker.marketplace.worker_site.routes import build_routes

__all__ = ["build_routes"]
