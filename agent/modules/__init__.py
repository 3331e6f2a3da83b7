"""The station modules: alerts, zones and geolocation, users and groups, bots, notifications.

``install_modules(services)`` puts one service object per module into ``services.modules`` and
registers the module hooks (run on the engine thread, in a transaction, before triggers are
matched):

=================  ==============================  ===========================================
module name        service                          hook
=================  ==============================  ===========================================
alerts             alerts.AlertService
geo                geolocation.GeoService
zones              zones.ZoneService                position_received -> zone_entry / zone_exit
users              users.UserService                node_first_heard -> user_registered;
                                                   node_heard: a late long name renames
bots               bots.BotService                  message_received -> bot_trigger_fired
notifications      notifications.NotificationService
=================  ==============================  ===========================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.engine.context import Services


def install_modules(services: Services) -> None:
    """Create the station's module services and register their hooks."""
    from agent.modules.alerts import AlertService
    from agent.modules.bots import BotService
    from agent.modules.geolocation import GeoService
    from agent.modules.notifications import NotificationService
    from agent.modules.users import UserService
    from agent.modules.zones import ZoneService

    station, clock, modules = services.station_id, services.clock, services.modules
    modules["alerts"] = AlertService(station, clock)
    modules["geo"] = GeoService()
    users = modules["users"] = UserService(station, clock)
    zones = modules["zones"] = ZoneService(station, clock, modules)
    bots = modules["bots"] = BotService(station, clock, modules)
    modules["notifications"] = NotificationService(station, clock, modules)
    services.observe("position_received", zones.on_position)
    services.observe("node_first_heard", users.on_node_first_heard)
    services.observe("node_heard", users.on_node_heard)
    services.observe("message_received", bots.on_message)
