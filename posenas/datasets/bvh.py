"""BVH motion files: a strict parser and vectorised forward kinematics.

BVH is the common exchange format for motion capture (CMU, Bandai, LAFAN, ...). A file is a joint
tree (HIERARCHY: ROOT/JOINT/End Site with OFFSET and CHANNELS) followed by one row of channel values
per frame (MOTION). Joint positions are not stored; they come from forward kinematics (FK):

    global_j = global_parent @ [R_j | t_j],   R_j = R_c1 @ R_c2 @ R_c3   (channels in listed order)

where t_j is the joint's OFFSET, with any position channel replacing the OFFSET component on its
axis (the MotionBuilder/Blender reading; for a root whose OFFSET is zero both readings agree).
Errors name the file and line (`DataFormatError`) so a broken export can be found and fixed.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from posenas.errors import DataFormatError
from posenas.core.skeleton import Layout, register_layout

ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")
POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
_AXIS = {"X": 0, "Y": 1, "Z": 2}
_TOKEN = re.compile(r"\{|\}|[^\s{}]+")


@dataclass(frozen=True)
class BvhHierarchy:
    """The joint tree in file (depth-first) order; parents always come before their children.

    End Sites are kept as extra joints (no channels) named `<parent>End`, flagged in `end_site`, so
    FK can return them or leave them out.
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray  # (J, 3) float64, in file units
    channels: tuple[tuple[str, ...], ...]  # per joint, in file order
    end_site: tuple[bool, ...]
    lines: tuple[int, ...] = ()  # line of each joint's ROOT/JOINT/End Site keyword

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def num_channels(self) -> int:
        return sum(len(c) for c in self.channels)

    @property
    def joint_indices(self) -> np.ndarray:
        """Indices of the real joints (End Sites left out)."""
        return np.array([i for i, e in enumerate(self.end_site) if not e], dtype=np.int64)

    def channel_offsets(self) -> np.ndarray:
        """Column of each joint's first channel in a motion row."""
        counts = np.array([len(c) for c in self.channels], dtype=np.int64)
        return np.concatenate([[0], np.cumsum(counts)[:-1]])

    def channel_names(self) -> list[str]:
        """'joint.channel' for every motion column, for error messages and tables."""
        return [f"{n}.{c}" for n, chans in zip(self.names, self.channels) for c in chans]


@dataclass
class BvhClip:
    """A parsed BVH file: hierarchy plus the raw motion channels (T, C) float64."""

    path: str
    hierarchy: BvhHierarchy
    frame_time: float
    motion: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def positions(self, scale: float = 1.0, end_sites: bool = False) -> np.ndarray:
        """World joint positions (T, J, 3) float64; see `forward_kinematics`."""
        return forward_kinematics(self.hierarchy, self.motion, scale=scale, end_sites=end_sites)


# ----------------------------------------------------------------------------------------------
# Parsing
# ----------------------------------------------------------------------------------------------


def _float(path: str, tok: str, line: int, what: str) -> float:
    try:
        v = float(tok)
    except ValueError:
        raise DataFormatError(path, f"{what}: expected a number, got {tok!r}", line=line) from None
    if not math.isfinite(v):
        raise DataFormatError(path, f"{what}: value {tok!r} is not finite", line=line)
    return v


def _tokens(text: str, first_line: int) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for k, ln in enumerate(text.splitlines()):
        out.extend((t, first_line + k) for t in _TOKEN.findall(ln))
    return out


def _parse_hierarchy(path: str, header: str) -> BvhHierarchy:
    toks = _tokens(header, 1)
    n = len(toks)
    pos = 0

    def take(expect: str | None = None, what: str | None = None) -> tuple[str, int]:
        """Next token; `expect` is a token that must come, `what` only names it for errors."""
        nonlocal pos
        if pos >= n:
            last = toks[-1][1] if toks else 1
            wanted = what or (repr(expect) if expect else "more")
            raise DataFormatError(
                path, f"unexpected end of HIERARCHY (expected {wanted}; unbalanced braces?)", line=last
            )
        tok = toks[pos]
        pos += 1
        if expect is not None and tok[0] != expect:
            raise DataFormatError(path, f"expected {expect!r}, got {tok[0]!r}", line=tok[1])
        return tok

    if not toks or toks[0][0] != "HIERARCHY":
        raise DataFormatError(path, "file does not start with HIERARCHY", line=toks[0][1] if toks else 1)
    pos = 1

    names: list[str] = []
    parents: list[int] = []
    offsets: list[tuple[float, float, float]] = []
    channels: list[tuple[str, ...]] = []
    end_site: list[bool] = []
    lines: list[int] = []

    def parse_joint(parent: int, kind: str, kw_line: int) -> None:
        nonlocal pos
        if kind == "End":
            take("Site")
            name = f"{names[parent]}End"
        else:
            name, nline = take()
            if name in ("{", "}"):
                raise DataFormatError(path, f"{kind} without a name", line=nline)
        me = len(names)
        names.append(name)
        parents.append(parent)
        offsets.append((0.0, 0.0, 0.0))
        channels.append(())
        end_site.append(kind == "End")
        lines.append(kw_line)
        take("{")
        seen_offset = False
        while True:
            tok, line = take(what="'}'")
            if tok == "}":
                break
            if tok == "OFFSET":
                vals = [take(what="OFFSET value") for _ in range(3)]
                x, y, z = (_float(path, t, ln, f"OFFSET of {name}") for t, ln in vals)
                offsets[me] = (x, y, z)
                seen_offset = True
            elif tok == "CHANNELS":
                if kind == "End":
                    raise DataFormatError(path, f"End Site of {names[parent]} cannot have CHANNELS", line=line)
                ctok, cline = take(what="channel count")
                try:
                    count = int(ctok)
                except ValueError:
                    raise DataFormatError(path, f"CHANNELS count {ctok!r} is not an integer", line=cline) from None
                chans: list[str] = []
                while pos < n and toks[pos][1] == cline and toks[pos][0] not in ("{", "}"):
                    chans.append(toks[pos][0])
                    pos += 1
                if len(chans) != count:
                    raise DataFormatError(
                        path, f"CHANNELS of {name} says {count} but lists {len(chans)}: {' '.join(chans)}",
                        line=cline,
                    )
                bad = [c for c in chans if c not in ROTATION_CHANNELS + POSITION_CHANNELS]
                if bad:
                    raise DataFormatError(path, f"unknown channel {bad[0]!r} for {name}", line=cline)
                if len(set(chans)) != len(chans):
                    raise DataFormatError(path, f"repeated channel for {name}: {' '.join(chans)}", line=cline)
                channels[me] = tuple(chans)
            elif tok in ("JOINT", "End"):
                if kind == "End":
                    raise DataFormatError(path, "End Site cannot have children", line=line)
                parse_joint(me, tok, line)
            elif tok == "ROOT":
                raise DataFormatError(path, "ROOT inside a joint (missing '}'?)", line=line)
            else:
                raise DataFormatError(path, f"unknown keyword {tok!r} in {name}", line=line)
        if not seen_offset:
            raise DataFormatError(path, f"{name} has no OFFSET", line=kw_line)

    tok, line = take("ROOT")
    parse_joint(-1, "ROOT", line)
    if pos < n:
        tok, line = toks[pos]
        if tok == "ROOT":
            raise DataFormatError(path, "more than one ROOT is not supported", line=line)
        if tok == "}":
            raise DataFormatError(path, "unbalanced '}' after the ROOT joint", line=line)
        raise DataFormatError(path, f"unexpected {tok!r} after the ROOT joint", line=line)

    base = [n_ for n_, e in zip(names, end_site) if not e]
    if len(set(base)) != len(base):
        dup = sorted({x for x in base if base.count(x) > 1})
        raise DataFormatError(path, f"duplicate joint names: {', '.join(dup)}")
    # An End Site name may clash with a real joint called e.g. "headEnd"; make it unique.
    seen: set[str] = set(base)
    for i, e in enumerate(end_site):
        if e:
            nm = names[i]
            while nm in seen:
                nm += "_"
            names[i] = nm
            seen.add(nm)
    return BvhHierarchy(
        names=tuple(names),
        parents=tuple(parents),
        offsets=np.asarray(offsets, dtype=np.float64).reshape(-1, 3),
        channels=tuple(channels),
        end_site=tuple(end_site),
        lines=tuple(lines),
    )


_FRAMES = re.compile(r"^\s*Frames\s*:\s*(\S+)\s*$")
_FRAME_TIME = re.compile(r"^\s*Frame\s+Time\s*:\s*(\S+)\s*$")


def _parse_motion(path: str, lines: list[str], first: int, h: BvhHierarchy) -> tuple[float, np.ndarray]:
    """`lines` start right after MOTION; `first` is the 1-based line number of lines[0]."""
    if len(lines) < 2:
        raise DataFormatError(path, "MOTION needs 'Frames:' and 'Frame Time:' lines", line=first)
    m = _FRAMES.match(lines[0])
    if not m:
        raise DataFormatError(path, f"expected 'Frames: N', got {lines[0].strip()!r}", line=first)
    try:
        frames = int(m.group(1))
    except ValueError:
        raise DataFormatError(path, f"Frames {m.group(1)!r} is not an integer", line=first) from None
    if frames < 0:
        raise DataFormatError(path, f"Frames is negative ({frames})", line=first)
    m = _FRAME_TIME.match(lines[1])
    if not m:
        raise DataFormatError(path, f"expected 'Frame Time: t', got {lines[1].strip()!r}", line=first + 1)
    frame_time = _float(path, m.group(1), first + 1, "Frame Time")
    if frame_time <= 0:
        raise DataFormatError(path, f"Frame Time must be positive, got {frame_time}", line=first + 1)

    body = lines[2:]
    start = first + 2
    rows = [ln.split() for ln in body]
    counts = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    filled = np.nonzero(counts)[0]  # blank lines are allowed (e.g. a trailing newline)
    C = h.num_channels
    wrong = filled[counts[filled] != C]
    if wrong.size:
        i = int(wrong[0])
        raise DataFormatError(
            path, f"motion row has {counts[i]} values, the hierarchy has {C} channels", line=start + i
        )
    if filled.size < frames:
        last = start + int(filled[-1]) if filled.size else start - 1
        raise DataFormatError(path, f"Frames says {frames} but only {filled.size} motion rows follow", line=last)
    if filled.size > frames:
        i = int(filled[frames])
        raise DataFormatError(path, f"more motion rows than Frames ({frames})", line=start + i)
    if C == 0:
        return frame_time, np.zeros((frames, 0), dtype=np.float64)
    try:
        with warnings.catch_warnings():  # numpy warns (later: raises) where it stops on a non-number
            warnings.simplefilter("ignore", DeprecationWarning)
            values = np.fromstring("\n".join(body), sep=" ")  # C parser: ~10x faster than float()
    except ValueError:
        values = np.zeros(0)
    if values.size != frames * C:  # it stopped at a token that is not a number: find and name it
        names = h.channel_names()
        for k in filled:
            for c, tok in enumerate(rows[k]):
                try:
                    float(tok)
                except ValueError:
                    raise DataFormatError(
                        path, f"expected a number, got {tok!r}", line=start + int(k), field=names[c]
                    ) from None
        raise DataFormatError(path, "motion values could not be read as numbers", line=start)
    values = values.reshape(frames, C)
    finite = np.isfinite(values)
    if not finite.all():
        r, c = map(int, np.argwhere(~finite)[0])
        raise DataFormatError(
            path, f"value {values[r, c]} is not finite", line=start + int(filled[r]), field=h.channel_names()[c]
        )
    return frame_time, values


def parse_bvh(text: str, path: str | Path = "<string>") -> BvhClip:
    """Parse BVH text; `path` is only used in error messages."""
    path = str(path)
    all_lines = text.splitlines()
    motion_at = next((i for i, ln in enumerate(all_lines) if ln.strip() == "MOTION"), None)
    if motion_at is None:
        # Report a structural fault in the hierarchy first, if there is one.
        _parse_hierarchy(path, text)
        raise DataFormatError(path, "no MOTION section", line=len(all_lines))
    h = _parse_hierarchy(path, "\n".join(all_lines[:motion_at]))
    frame_time, motion = _parse_motion(path, all_lines[motion_at + 1:], motion_at + 2, h)
    return BvhClip(path=path, hierarchy=h, frame_time=frame_time, motion=motion)


def read_bvh(path: str | Path) -> BvhClip:
    """Read and parse a BVH file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError as e:
        raise DataFormatError(p, f"not a UTF-8/ASCII text file ({e.reason} at byte {e.start})") from None
    return parse_bvh(text, p)


# ----------------------------------------------------------------------------------------------
# Forward kinematics
# ----------------------------------------------------------------------------------------------


def axis_rotation(axis: str, degrees: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) about X, Y or Z by `degrees` (right-handed, column vectors)."""
    a = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    c, s = np.cos(a), np.sin(a)
    one, zero = np.ones_like(a), np.zeros_like(a)
    if axis == "X":
        rows = ((one, zero, zero), (zero, c, -s), (zero, s, c))
    elif axis == "Y":
        rows = ((c, zero, s), (zero, one, zero), (-s, zero, c))
    elif axis == "Z":
        rows = ((c, -s, zero), (s, c, zero), (zero, zero, one))
    else:
        raise ValueError(f"axis must be X, Y or Z, got {axis!r}")
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def local_transforms(h: BvhHierarchy, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-joint local rotations (T, J, 3, 3) and translations (T, J, 3) from motion channels."""
    motion = np.asarray(motion, dtype=np.float64)
    T, J = motion.shape[0], h.num_joints
    if motion.ndim != 2 or motion.shape[1] != h.num_channels:
        raise ValueError(f"motion must be (T, {h.num_channels}), got {motion.shape}")
    rot = np.broadcast_to(np.eye(3), (T, J, 3, 3)).copy()
    trans = np.broadcast_to(h.offsets, (T, J, 3)).copy()
    starts = h.channel_offsets()
    # Joints sharing a rotation order are done in one batch: (T, Jg) angles per channel slot.
    groups: dict[tuple[str, ...], list[tuple[int, list[int]]]] = {}
    for j, chans in enumerate(h.channels):
        rcols = []
        for k, ch in enumerate(chans):
            if ch.endswith("position"):
                trans[:, j, _AXIS[ch[0]]] = motion[:, starts[j] + k]
            else:
                rcols.append(int(starts[j]) + k)
        if rcols:
            order = tuple(ch[0] for ch in chans if ch.endswith("rotation"))
            groups.setdefault(order, []).append((j, rcols))
    for order, members in groups.items():
        idx = np.array([j for j, _ in members])
        cols = np.array([c for _, c in members])  # (Jg, k)
        r = None
        for k, axis in enumerate(order):
            m = axis_rotation(axis, motion[:, cols[:, k]])  # (T, Jg, 3, 3)
            r = m if r is None else r @ m
        rot[:, idx] = r
    return rot, trans


def forward_kinematics(
    h: BvhHierarchy, motion: np.ndarray, scale: float = 1.0, end_sites: bool = False
) -> np.ndarray:
    """World positions (T, J, 3) float64 of every joint, vectorised over frames.

    `scale` multiplies all lengths (file units -> e.g. metres). End Sites are returned (in hierarchy
    order) only when `end_sites` is True.
    """
    rot, trans = local_transforms(h, motion)
    T, J = trans.shape[:2]
    g_rot = np.empty_like(rot)
    g_pos = np.empty_like(trans)
    for j, p in enumerate(h.parents):
        if p < 0:
            g_rot[:, j] = rot[:, j]
            g_pos[:, j] = trans[:, j]
        else:
            g_rot[:, j] = g_rot[:, p] @ rot[:, j]
            g_pos[:, j] = g_pos[:, p] + np.einsum("tab,tb->ta", g_rot[:, p], trans[:, j])
    if not end_sites:
        g_pos = g_pos[:, h.joint_indices]
    return g_pos * scale


# ----------------------------------------------------------------------------------------------
# Layouts
# ----------------------------------------------------------------------------------------------


def hierarchy_layout(
    h: BvhHierarchy,
    name: str,
    end_sites: bool = False,
    description: str = "",
    to_h36m: dict[str, dict[str, float]] | None = None,
    approximations: tuple[str, ...] = (),
    register: bool = True,
) -> Layout:
    """A `Layout` with the hierarchy's joint names and parents (optionally registered by `name`).

    The joint order matches `forward_kinematics(h, ..., end_sites=end_sites)`.
    """
    keep = list(range(h.num_joints)) if end_sites else [int(i) for i in h.joint_indices]
    new_index = {old: k for k, old in enumerate(keep)}
    names = tuple(h.names[i] for i in keep)
    parents = tuple(-1 if h.parents[i] < 0 else new_index[h.parents[i]] for i in keep)
    lay = Layout(name, names, parents, description or f"BVH hierarchy ({len(names)} joints)",
                 to_h36m=dict(to_h36m or {}), approximations=approximations)
    if register:
        register_layout(lay)
    return lay
