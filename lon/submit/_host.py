"""What this host's OS tells about its network interfaces, for the system description."""

from __future__ import annotations

import os

SYS_NET = "/sys/class/net"


def nics(root: str = SYS_NET) -> list[tuple[str, int | None]]:
    """(name, link speed in Mb/s or None) of each physical, up interface; none where unknown."""
    found = []
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    for name in names:
        base = os.path.join(root, name)
        if name == "lo" or not os.path.exists(os.path.join(base, "device")):
            continue  # loopback and virtual interfaces (bridges, veths) carry no NIC
        if _read(os.path.join(base, "operstate")) != "up":
            continue
        speed = _read(os.path.join(base, "speed"))
        found.append(
            (name, int(speed) if speed and speed.lstrip("-").isdigit() and int(speed) > 0 else None)
        )
    return found


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def loadgen_fields(root: str = SYS_NET) -> dict[str, str]:
    """System-description values about the LoadGen host's NICs, where the OS tells them."""
    found = nics(root)
    if not found:
        return {}
    fields = {
        "nic_loadgen": ", ".join(n + (f" ({s} Mb/s)" if s else "") for n, s in found),
        "number_nic_loadgen": str(len(found)),
    }
    speeds = {s for _, s in found if s}
    if len(speeds) == 1:
        speed = speeds.pop()
        fields["network_rate"] = f"{speed / 1000:g} Gb/s" if speed >= 1000 else f"{speed} Mb/s"
    return fields
