"""Users (people with one or more mesh nodes) and groups (medics, north-team).

Membership is carried by the user (``User.groups``, a list of group uids), so a change of a
user's groups is one record that syncs and merges whole. A node heard for the first time
becomes a user (``user_registered``), named after the node's long name.
"""

from __future__ import annotations

import re
from typing import Any

from peewee import fn

from agent.core.ids import HybridClock
from agent.core.module_models import NOTIFICATION_CHANNELS, Group, User
from agent.core.station_models import Node
from agent.engine.events import Event
from agent.modules import fleet
from agent.modules.fleet import InvalidRecord, NotFound

NODE_ID = re.compile(r"^![0-9a-f]{8}$")
MAX_NODES_PER_USER = 16
MAX_GROUPS_PER_USER = 64


def normalise_node_id(value: Any) -> str:
    """``!a1b2c3d4`` (lower case); raises InvalidRecord for anything else."""
    text = str(value).strip().lower() if isinstance(value, str | int) else ""
    if not NODE_ID.match(text):
        raise InvalidRecord(f"node id {value!r}: must look like !a1b2c3d4")
    return text


def group_key(name: str) -> str:
    """The index key of a group name (user_group_changed triggers are keyed by it)."""
    return name.strip().casefold()


def _channels(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or any(c not in NOTIFICATION_CHANNELS for c in value):
        raise InvalidRecord(f"{field}: a list of {', '.join(NOTIFICATION_CHANNELS)}")
    return list(dict.fromkeys(value))


def _clean_name(text: Any) -> str:
    name = "".join(c for c in str(text or "") if c.isprintable()).strip()
    return name[: fleet.NAME_MAX]


class UserService:
    """Users and groups of this station. Every write is in the caller's transaction, writes
    its outbox row, and returns the events it causes for the caller to deliver."""

    def __init__(self, station_id: str, clock: HybridClock, *, outbox: bool = True) -> None:
        self.station_id = station_id
        self.clock = clock
        self.outbox = outbox  # False at central: its changes go down by its own feed

    # -- lookups -----------------------------------------------------------------------------

    def find_user(self, ref: str | int) -> User:
        return fleet.find(User, ref, what="user")

    def find_group(self, ref: str | int) -> Group:
        return fleet.find(Group, ref, what="group")

    def list_users(self, group: str | None = None) -> list[User]:
        if group is not None:
            return self.members(self.find_group(group))
        return list(fleet.live(User).order_by(User.name))

    def list_groups(self) -> list[Group]:
        return list(fleet.live(Group).order_by(Group.name))

    def user_for_node(self, node_id: str) -> User | None:
        """The live user owning ``node_id``, or None."""
        for user in fleet.live(User).where(fleet.list_contains(User.node_ids, node_id)):
            if node_id in (user.node_ids or []):
                return user  # type: ignore[no-any-return]
        return None

    def members(self, group: Group) -> list[User]:
        return [u for u in fleet.live(User).where(fleet.list_contains(User.groups, group.uid))
                .order_by(User.name) if group.uid in (u.groups or [])]

    def group_names(self, user: User) -> list[str]:
        if not user.groups:
            return []
        return [g.name for g in fleet.live(Group).where(Group.uid.in_(user.groups))
                .order_by(Group.name)]

    def in_group(self, user: User, group_ref: str) -> bool:
        """Raises NotFound for an unknown group."""
        return self.find_group(group_ref).uid in (user.groups or [])

    def node_ids_for(self, user: str | None = None, group: str | None = None) -> list[str]:
        """The node ids of a user, or of every active member of a group (by name or uid).

        With both, the union. Raises NotFound for an unknown user or group, ValueError when
        neither is given. Used by send_message to address a user or a group.
        """
        if user is None and group is None:
            raise ValueError("node_ids_for: give a user or a group")
        people: list[User] = []
        if user is not None:
            people.append(self.find_user(user))
        if group is not None:
            people += self.members(self.find_group(group))
        ids = [n for u in people if u.is_active for n in (u.node_ids or [])]
        return sorted(dict.fromkeys(ids))

    # -- users -------------------------------------------------------------------------------

    def create_user(self, data: dict[str, Any], *, origin: str | None = None,
                    by: str = "operator") -> tuple[User, list[Event]]:
        user = User(node_ids=[], groups=[], channels=["mesh"], metadata={})
        self._set_user_fields(user, data, creating=True)
        fleet.save_local(user, self.clock, origin or self.station_id, outbox=self.outbox)
        self._link_nodes(user, [])
        return user, [self._registered(user, user.node_ids[0] if user.node_ids else None, by)]

    def update_user(self, user: User, changes: dict[str, Any], *, origin: str | None = None,
                    by: str = "operator") -> tuple[User, list[Event]]:
        old_nodes, old_groups = list(user.node_ids or []), list(user.groups or [])
        self._set_user_fields(user, changes, creating=False)
        fleet.save_local(user, self.clock, origin or self.station_id, outbox=self.outbox)
        self._link_nodes(user, old_nodes)
        event = self._group_event(user, old_groups, by)
        return user, [event] if event is not None else []

    def delete_user(self, user: User, *, origin: str | None = None) -> None:
        user.deleted = True
        user.is_active = False
        fleet.save_local(user, self.clock, origin or self.station_id, outbox=self.outbox)
        Node.update(user_uid=None).where(Node.user_uid == user.uid).execute()

    def change_groups(self, user: User, add: list[str], remove: list[str], *,
                      by: str = "operator", create_missing: bool = False,
                      origin: str | None = None) -> tuple[list[str], list[str], list[Event]]:
        """Add and remove groups (names or uids); returns (added, removed, events).

        Raises NotFound for an unknown group unless ``create_missing`` (for additions).
        """
        old = list(user.groups or [])
        current = list(old)
        for ref in add:
            try:
                group = self.find_group(ref)
            except NotFound:
                if not create_missing:
                    raise
                group = self.create_group({"name": ref}, origin=origin)
            if group.uid not in current:
                current.append(group.uid)
        for ref in remove:
            group = self.find_group(ref)
            if group.uid in current:
                current.remove(group.uid)
        if current == old:
            return [], [], []
        if len(current) > MAX_GROUPS_PER_USER:
            raise InvalidRecord(f"groups: at most {MAX_GROUPS_PER_USER} per user")
        user.groups = current
        fleet.save_local(user, self.clock, origin or self.station_id, outbox=self.outbox)
        event = self._group_event(user, old, by)
        if event is None:
            return [], [], []
        return event.data["added"], event.data["removed"], [event]

    def _set_user_fields(self, user: User, data: dict[str, Any], *, creating: bool) -> None:
        if not isinstance(data, dict):
            raise InvalidRecord("a user is a JSON object")
        unknown = sorted(set(data) - {"name", "node_ids", "groups", "channels", "is_active",
                                      "metadata"})
        if unknown:
            raise InvalidRecord(f"{unknown[0]}: unknown field")
        if creating or "name" in data:
            user.name = fleet.check_name(User, data.get("name"), what="user",
                                         exclude_uid=None if creating else user.uid)
        if "node_ids" in data:
            if not isinstance(data["node_ids"], list):
                raise InvalidRecord("node_ids: must be a list of node ids")
            ids = list(dict.fromkeys(normalise_node_id(n) for n in data["node_ids"]))
            if len(ids) > MAX_NODES_PER_USER:
                raise InvalidRecord(f"node_ids: at most {MAX_NODES_PER_USER}")
            for node_id in ids:
                owner = self.user_for_node(node_id)
                if owner is not None and owner.uid != user.uid:
                    raise InvalidRecord(f"node_ids: {node_id} belongs to user {owner.name!r}")
            user.node_ids = ids
        if "groups" in data:
            if not isinstance(data["groups"], list):
                raise InvalidRecord("groups: must be a list of group names or uids")
            try:
                uids = [self.find_group(g).uid for g in data["groups"]]
            except NotFound as exc:
                raise InvalidRecord(f"groups: {exc}") from None
            user.groups = list(dict.fromkeys(uids))[:MAX_GROUPS_PER_USER]
        if "channels" in data:
            user.channels = _channels(data["channels"], "channels")
        if "is_active" in data:
            if not isinstance(data["is_active"], bool):
                raise InvalidRecord("is_active: must be true or false")
            user.is_active = data["is_active"]
        if "metadata" in data:
            user.metadata = fleet.check_metadata(data["metadata"])

    def _link_nodes(self, user: User, old_nodes: list[str]) -> None:
        """Keep the radio's node rows pointing at their person (Node.user_uid)."""
        gone = [n for n in old_nodes if n not in (user.node_ids or [])]
        if gone:
            Node.update(user_uid=None).where(Node.node_id.in_(gone)
                                             & (Node.user_uid == user.uid)).execute()
        if user.node_ids:
            Node.update(user_uid=user.uid).where(Node.node_id.in_(user.node_ids)).execute()

    def on_node_first_heard(self, event: Event) -> list[Event]:
        """Hook for ``node_first_heard`` (data: node_id, num, long_name, short_name)."""
        try:
            node_id = normalise_node_id(event.data.get("node_id"))
        except InvalidRecord:
            return []
        if self.user_for_node(node_id) is not None:
            return []
        base = _clean_name(event.data.get("long_name")) \
            or _clean_name(event.data.get("short_name")) or node_id
        name = base
        for candidate in (base, f"{base[:85]} ({node_id})", node_id):
            name = candidate
            if not fleet.live(User).where(fn.LOWER(User.name) == candidate.lower()).exists():
                break
        else:
            return []  # the node id itself names another user: leave it to an operator
        user = User(name=name, node_ids=[node_id], groups=[], channels=["mesh"], metadata={
            "long_name": event.data.get("long_name"), "short_name": event.data.get("short_name"),
            "auto_named": name == node_id})
        fleet.save_local(user, self.clock, self.station_id, outbox=self.outbox)
        self._link_nodes(user, [])
        return [self._registered(user, node_id, "mesh", cause=event)]

    def on_node_heard(self, event: Event) -> list[Event]:
        """Hook for ``node_heard``: a user registered before its node told its name (and so
        named after the node id) takes the node's long name once it is known."""
        info = event.data.get("user")
        node_id = event.data.get("from_id")
        if not isinstance(info, dict) or not isinstance(node_id, str):
            return []
        name = _clean_name(info.get("long_name"))
        if not name:
            return []
        user = self.user_for_node(node_id)
        if user is None or user.name != node_id or not (user.metadata or {}).get("auto_named"):
            return []
        if fleet.live(User).where(fn.LOWER(User.name) == name.lower()).exists():
            return []
        user.name = name
        user.metadata = {**(user.metadata or {}), "auto_named": False, "long_name": name,
                         "short_name": info.get("short_name")}
        fleet.save_local(user, self.clock, self.station_id, outbox=self.outbox)
        return []

    def _registered(self, user: User, node_id: str | None, by: str,
                    cause: Event | None = None) -> Event:
        meta = user.metadata or {}
        return Event(
            type="user_registered",
            data={"user": user.name, "user_uid": user.uid, "node_id": node_id,
                  "node_ids": list(user.node_ids or []), "groups": self.group_names(user),
                  "long_name": meta.get("long_name"), "short_name": meta.get("short_name"),
                  "by": by},
            source="module:users",
            chain=cause.chain if cause is not None else (),
            triggered_by=node_id or by,
        )

    def _group_event(self, user: User, old_groups: list[str], by: str) -> Event | None:
        new_groups = list(user.groups or [])
        added_uids = [g for g in new_groups if g not in old_groups]
        removed_uids = [g for g in old_groups if g not in new_groups]
        if not added_uids and not removed_uids:
            return None
        names = {g.uid: g.name for g in Group.select(Group.uid, Group.name)
                 .where(Group.uid.in_(added_uids + removed_uids))}
        added = [names.get(g, g) for g in added_uids]
        removed = [names.get(g, g) for g in removed_uids]
        return Event(
            type="user_group_changed",
            data={"user": user.name, "user_uid": user.uid, "node_ids": list(user.node_ids or []),
                  "added": added, "removed": removed, "groups": self.group_names(user),
                  "by": by},
            source="module:users",
            keys=frozenset(group_key(n) for n in added + removed),
            triggered_by=by,
        )

    # -- groups ------------------------------------------------------------------------------

    def create_group(self, data: dict[str, Any], *, origin: str | None = None) -> Group:
        group = Group(channels=["mesh", "feed"], metadata={})
        self._set_group_fields(group, data, creating=True)
        fleet.save_local(group, self.clock, origin or self.station_id, outbox=self.outbox)
        return group

    def update_group(self, group: Group, changes: dict[str, Any], *,
                     origin: str | None = None) -> Group:
        self._set_group_fields(group, changes, creating=False)
        fleet.save_local(group, self.clock, origin or self.station_id, outbox=self.outbox)
        return group

    def delete_group(self, group: Group, *, origin: str | None = None) -> None:
        """A tombstone; users keep the uid in their list, ignored from now on."""
        group.deleted = True
        group.is_active = False
        fleet.save_local(group, self.clock, origin or self.station_id, outbox=self.outbox)

    def _set_group_fields(self, group: Group, data: dict[str, Any], *, creating: bool) -> None:
        if not isinstance(data, dict):
            raise InvalidRecord("a group is a JSON object")
        unknown = sorted(set(data) - {"name", "description", "channels", "mqtt_topic",
                                      "is_active", "metadata"})
        if unknown:
            raise InvalidRecord(f"{unknown[0]}: unknown field")
        if creating or "name" in data:
            group.name = fleet.check_name(Group, data.get("name"), what="group",
                                          exclude_uid=None if creating else group.uid)
        if "description" in data:
            value = data["description"]
            if value is not None and (not isinstance(value, str) or len(value) > 2000):
                raise InvalidRecord("description: text of at most 2000 characters")
            group.description = value
        if "channels" in data:
            group.channels = _channels(data["channels"], "channels")
        if "mqtt_topic" in data:
            topic = data["mqtt_topic"]
            if topic is not None and (not isinstance(topic, str) or not topic
                                      or len(topic) > 200 or any(c in topic for c in "#+\x00")):
                raise InvalidRecord("mqtt_topic: a topic name without wildcards, at most 200 "
                                    "characters")
            group.mqtt_topic = topic
        if "is_active" in data:
            if not isinstance(data["is_active"], bool):
                raise InvalidRecord("is_active: must be true or false")
            group.is_active = data["is_active"]
        if "metadata" in data:
            group.metadata = fleet.check_metadata(data["metadata"])


__all__ = ["InvalidRecord", "NotFound", "UserService", "group_key", "normalise_node_id"]
