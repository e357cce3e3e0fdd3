#!/usr/bin/env python3
"""Decoder for Kith compact wiki groups, written from PROTOCOL.md section
7.1 alone (no Automerge code): the raw DEFLATE of one Automerge 0.12.0
change bundle. A second implementation of that section, kept to show the
text is enough (Kith's own reader is core/src/wiki/unbundle.rs).

    decode.py [-q] VECTOR_FILE ...     e.g. docs/vectors/compact-group/*.block
    decode.py --malformed FILE         FILE: malformed.txt (inflate
                                       malformed.txt.deflate first)

A vector file has lines `group HEX` and/or `bundle HEX`, then per change
`change HASH` and optionally `bytes HEX` and `json {...}`; lines starting
with `#` are notes. For each file the script inflates the group (and checks
it equals `bundle`), decodes the bundle, rebuilds every change (its JSON
form and its change-chunk bytes), hashes it, and compares all three with
the file. With --malformed it instead compares its verdicts (refuse, or
the hashes of the changes) with automerge 0.12.0's on recorded variants.
Standard library only. Section numbers (7.1.x) refer to PROTOCOL.md;
rule numbers (R1..R11 refused, A12..A18 accepted) to its section 7.1.8.
"""
import hashlib
import json
import struct
import sys
import zlib

MAGIC = bytes.fromhex("856f4a83")
MAX_BUNDLE = 16 * 1024 * 1024
U64 = (1 << 64) - 1


class Malformed(Exception):
    """The group is refused (7.1.8)."""


def to_i64(x):
    x &= U64
    return x - (1 << 64) if x >> 63 else x


# ------------------------------------------------------------------ varints
# Outside column data (header, prefix, column metadata) and inside raw values:
# shortest form only, at most 64 bits (7.1.8 R2, R3, R8).

def read_varint(buf, pos):
    res = shift = 0
    while True:
        if pos >= len(buf):
            raise Malformed("varint cut off")
        b = buf[pos]
        pos += 1
        if shift < 64:
            res = (res | (b & 0x7F) << shift) & U64
        shift += 7
        if not b & 0x80:
            if shift > 64 and b > 1:
                raise Malformed("varint over 64 bits")
            if shift > 7 and b == 0:
                raise Malformed("varint not in shortest form")
            return res, pos
        if shift > 64:
            raise Malformed("varint over 64 bits")


def read_leb(buf, pos):
    res = shift = prev = 0
    while True:
        if pos >= len(buf):
            raise Malformed("leb cut off")
        b = buf[pos]
        pos += 1
        if shift < 64:
            res = (res | (b & 0x7F) << shift) & U64
        shift += 7
        if not b & 0x80:
            if shift > 64 and b not in (0, 0x7F):
                raise Malformed("leb over 64 bits")
            if shift > 7 and ((b == 0 and not prev & 0x40) or (b == 0x7F and prev & 0x40)):
                raise Malformed("leb not in shortest form")
            if shift < 64 and b & 0x40:
                res |= (U64 << shift) & U64
            return to_i64(res), pos
        if shift > 64:
            raise Malformed("leb over 64 bits")
        prev = b


# Inside column data: redundant zero groups allowed, at most 10 bytes (A13).
# Return None when the varint is cut off or too long.

def col_uint(buf, pos):
    res = shift = 0
    while True:
        if pos >= len(buf):
            return None
        b = buf[pos]
        pos += 1
        if shift == 63 and b not in (0, 1):
            return None
        res |= (b & 0x7F) << shift
        if not b & 0x80:
            return res & U64, pos
        shift += 7


def col_int(buf, pos):
    res = shift = 0
    while True:
        if pos >= len(buf):
            return None
        b = buf[pos]
        pos += 1
        if shift == 63 and b not in (0, 0x7F):
            return None
        res |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    if shift < 64 and b & 0x40:
        res |= U64 << shift
    return to_i64(res), pos


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def leb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        done = (n == 0 and not b & 0x40) or (n == -1 and b & 0x40)
        out.append(b if done else b | 0x80)
        if done:
            return bytes(out)


# ------------------------------------------------------------ column readers
# Lazy, as 0.12.0 reads them: `next()` gives the next value, None for a null
# and for the end of the column; values past those asked for are never read.

def val_uint(buf, pos):
    r = col_uint(buf, pos)
    if r is None:
        raise Malformed("column value cut off")
    return r


def val_str(buf, pos):
    n, pos = val_uint(buf, pos)
    if pos + n > len(buf):
        raise Malformed("string runs past its column")
    try:
        return buf[pos:pos + n].decode("utf-8"), pos + n
    except UnicodeDecodeError:
        raise Malformed("unspecified: a string in a column is not UTF-8")


def val_int(buf, pos):
    r = col_int(buf, pos)
    if r is None:
        raise Malformed("column value cut off")
    return r


END = object()  # the end of a column


class Rle:
    """RLE column (7.1.4): leb(n); n>0 one value n times; n<0 -n values; n=0 varint(k) nulls."""

    def __init__(self, data, value):
        self.d, self.value, self.pos = data, value, 0
        self.left, self.mode, self.cur = 0, None, None

    def item(self):
        """The next value, None for a null, END at the end of the column."""
        while True:
            if self.left > 0:
                self.left -= 1
                if self.mode == "lit":
                    v, self.pos = self.value(self.d, self.pos)
                    return v
                return self.cur  # a repeated value, or None in a null run
            if self.pos >= len(self.d):
                return END
            h = col_int(self.d, self.pos)
            if h is None:  # a run header that cannot be read ends the column (A13)
                self.pos = len(self.d)
                return END
            n, self.pos = h
            if n > 0:
                self.cur, self.pos = self.value(self.d, self.pos)
                self.left, self.mode = n, "rep"
            elif n < 0:
                self.left, self.mode = -n, "lit"
            else:
                k = col_uint(self.d, self.pos)
                if k is None:
                    raise Malformed("null run count cut off")
                k, self.pos = k
                self.left, self.mode, self.cur = k, "null", None
                if k == 0:  # a null run of 0 also ends the column (A13)
                    self.pos = len(self.d)
                    return END

    def next(self):
        v = self.item()
        return None if v is END else v


class Delta:
    """Delta column: RLE of leb differences; nulls keep the running value."""

    def __init__(self, data):
        self.rle, self.acc = Rle(data, val_int), 0

    def item(self):
        d = self.rle.item()
        if d is None or d is END:
            return d
        self.acc += d
        if not -(1 << 63) <= self.acc < 1 << 63:
            raise Malformed("unspecified: delta sum overflows 64 bits")
        return self.acc

    def next(self):
        v = self.item()
        return None if v is END else v


def delta_all(data):
    """Every value of a delta column, nulls included (ID_CTR_INVERSE, ID_CTR are read whole)."""
    out, col = [], Delta(data)
    while True:
        v = col.item()
        if v is END:
            return out
        out.append(v)


class Bools:
    """Boolean column: varint run lengths, alternately false and true, false first."""

    def __init__(self, data):
        self.d, self.pos, self.left, self.v = data, 0, 0, True

    def next(self):
        while True:
            if self.left > 0:
                self.left -= 1
                return self.v
            if self.pos >= len(self.d):
                return None
            r = col_uint(self.d, self.pos)
            if r is None:  # 0.12.0 loops forever here (R11)
                raise Malformed("boolean run length cut off (0.12.0 hangs)")
            self.left, self.pos = r
            self.v = not self.v


# --------------------------------------------------------------- the chunk

CHANGE_COLS = {0x01: "actor", 0x03: "seq", 0x13: "start_op", 0x23: "max_op", 0x33: "time",
               0x45: "message", 0x50: "dep_count", 0x53: "deps", 0x60: "extra_count",
               0x67: "extra"}
OP_COLS = {0x01: "obj_actor", 0x03: "obj_ctr", 0x11: "key_actor", 0x13: "key_ctr",
           0x15: "key_str", 0x21: "id_actor", 0x23: "id_ctr", 0x34: "insert", 0x42: "action",
           0x56: "value_meta", 0x57: "value", 0x70: "pred_count", 0x71: "pred_actor",
           0x73: "pred_ctr", 0x94: "expand", 0xA5: "mark_name", 0xB3: "id_ctr_inverse"}


def read_column_meta(buf, pos):
    n, pos = read_varint(buf, pos)
    meta = []
    for _ in range(n):
        spec, pos = read_varint(buf, pos)
        if spec > 0xFFFFFFFF:
            raise Malformed("spec word over 32 bits")
        length, pos = read_varint(buf, pos)
        meta.append((spec, length))
    for (a, _), (b, _) in zip(meta, meta[1:]):
        if b & ~8 < a & ~8:
            raise Malformed("columns out of order")
    total = sum(l for _, l in meta)
    if pos + total > len(buf):
        raise Malformed("column data cut off")
    cols, p = [], pos
    for spec, length in meta:
        cols.append([spec, buf[p:p + length]])
        p += length
    return cols, pos + total


def inflate_column(spec, data):
    if not spec & 8:
        return spec, data
    d = zlib.decompressobj(-15)
    try:
        out = d.decompress(data) + d.flush()
    except zlib.error:
        raise Malformed(f"column {spec:#x}: not raw DEFLATE")
    if not d.eof:
        raise Malformed(f"column {spec:#x}: DEFLATE stream incomplete")
    return spec & ~8, out  # bytes after the stream's end are ignored


def parse(chunk):
    """7.1.2-7.1.3: header, prefix and the two column sets (inflated)."""
    if len(chunk) < 9 or chunk[:4] != MAGIC:
        raise Malformed("not an Automerge chunk (magic)")
    checksum, ctype = chunk[4:8], chunk[8]
    if ctype > 3:
        raise Malformed(f"unknown chunk type {ctype}")
    length, pos = read_varint(chunk, 9)
    if pos + length > len(chunk):
        raise Malformed("chunk shorter than its length")
    hdr = dict(type=ctype, len=length, header_len=pos,
               checksum_ok=hashlib.sha256(chunk[8:pos + length]).digest()[:4] == checksum,
               exact=pos + length == len(chunk))
    body = chunk[pos:]  # A12: read to the end of the data, whatever len says
    p = 0
    n, p = read_varint(body, p)
    if p + 32 * n > len(body):
        raise Malformed("external hash cut off")
    ext = [body[p + 32 * i:p + 32 * i + 32] for i in range(n)]
    p += 32 * n
    n, p = read_varint(body, p)
    actors = []
    for _ in range(n):
        k, p = read_varint(body, p)
        if p + k > len(body):
            raise Malformed("actor id cut off")
        actors.append(body[p:p + k])
        p += k
    ccols, p = read_column_meta(body, p)
    ocols, p = read_column_meta(body, p)
    hdr["trailing"] = len(body) - p  # A12: ignored
    specs = dict(change=[s for s, _ in ccols], op=[s for s, _ in ocols])
    ccols = [inflate_column(s, d) for s, d in ccols]
    ocols = [inflate_column(s, d) for s, d in ocols]
    for s, _ in ccols:
        if s not in CHANGE_COLS:
            raise Malformed(f"unknown change column {s:#x}")
    for s, _ in ocols:
        if s not in OP_COLS:
            raise Malformed(f"unknown op column {s:#x}")
    # a repeated column: the last one counts (A13)
    return hdr, ext, actors, {CHANGE_COLS[s]: d for s, d in ccols}, \
        {OP_COLS[s]: d for s, d in ocols}, specs


# ---------------------------------------------------------------- changes

def read_changes(c):
    """7.1.5: one dict per change, in bundle order."""
    g = lambda k: c.get(k, b"")
    actor, seq, start, mx = Rle(g("actor"), val_uint), Delta(g("seq")), Delta(g("start_op")), \
        Delta(g("max_op"))
    time, msg, ndeps, deps = Delta(g("time")), Rle(g("message"), val_str), \
        Rle(g("dep_count"), val_uint), Delta(g("deps"))
    nextra, extra, epos = Rle(g("extra_count"), val_uint), g("extra"), 0
    out = []
    while True:
        a = actor.next()
        if a is None:  # A14: the first null ends the changes
            return out
        ch = dict(actor=a & 0xFFFFFFFF)
        for name, it in (("seq", seq), ("start_op", start), ("max_op", mx)):
            v = it.next()
            if v is None:
                raise Malformed(f"change {len(out)}: no {name}")
            ch[name] = v & U64  # read as unsigned
        ch["time"] = time.next() or 0
        ch["message"] = msg.next()
        n = ndeps.next() or 0
        ch["deps"] = []
        for _ in range(n):
            d = deps.next()
            if d is None:
                raise Malformed("DEPS shorter than DEP_COUNT")
            ch["deps"].append(d)
        n = nextra.next() or 0
        if epos + n > len(extra):
            raise Malformed("EXTRA shorter than EXTRA_COUNT")
        ch["extra"] = extra[epos:epos + n]
        epos += n
        out.append(ch)


def op_counters(changes, o):
    """7.1.6 'Op ids': the counter of each row, in row order."""
    if "id_ctr_inverse" in o:
        inv = delta_all(o["id_ctr_inverse"])
        if None in inv:
            raise Malformed("null in ID_CTR_INVERSE")
        order = sorted(changes, key=lambda c: (c["actor"], c["seq"]))
        for x, y in zip(order, order[1:]):
            if (x["actor"], x["seq"]) == (y["actor"], y["seq"]):
                raise Malformed("unspecified: two changes with the same actor and seq")
        counters, k = [0] * len(inv), 0  # A15: rows no k reaches keep counter 0
        for c in order:
            for ctr in range(c["start_op"], c["max_op"] + 1):
                if k >= len(inv):
                    raise Malformed("ID_CTR_INVERSE shorter than the op count")
                if not 0 <= inv[k] < len(inv):
                    raise Malformed("ID_CTR_INVERSE value out of range")
                counters[inv[k]] = ctr
                k += 1
        if k != len(inv):
            raise Malformed("ID_CTR_INVERSE longer than the op count")
        return counters
    if "id_ctr" in o:  # legacy
        ctrs = delta_all(o["id_ctr"])
        if None in ctrs:
            raise Malformed("null in ID_CTR")
        return ctrs
    return []


# -------------------------------------------------------------------- ops

def parse_value(meta, raw):
    """7.1.4 value types; A16 leniencies. Returns (type code, value)."""
    code = meta & 0x0F
    if code in (0, 1, 2):
        return code, None if code == 0 else code == 2
    if code == 3:
        return code, read_varint(raw, 0)[0]
    if code in (4, 8, 9):
        return code, read_leb(raw, 0)[0]
    if code == 5:
        if len(raw) != 8:
            raise Malformed("float64 value not 8 bytes")
        return code, struct.unpack("<d", raw)[0]
    if code == 6:
        try:
            return code, raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Malformed("string value not UTF-8")
    return code, bytes(raw)


def read_ops(o, counters):
    """7.1.6: one dict per row, in document order (pull order as 0.12.0)."""
    g = lambda k: o.get(k, b"")
    uint = lambda k: Rle(g(k), val_uint)
    id_actor, obj_a, obj_c = uint("id_actor"), uint("obj_actor"), Delta(g("obj_ctr"))
    key_s, key_a, key_c = Rle(g("key_str"), val_str), uint("key_actor"), Delta(g("key_ctr"))
    action, insert, expand = uint("action"), Bools(g("insert")), Bools(g("expand"))
    mark, meta, values, vpos = Rle(g("mark_name"), val_str), uint("value_meta"), g("value"), 0
    pcount, pactor, pctr = uint("pred_count"), uint("pred_actor"), Delta(g("pred_ctr"))
    ops = []
    for row in range(len(counters) + 1):
        a = id_actor.next()
        if a is None or row >= len(counters):  # A14: the end of the ops
            return ops
        op = dict(id=(counters[row], a & 0xFFFFFFFF))
        oa, oc = obj_a.next(), obj_c.next()
        if oa is None and oc is None:
            op["obj"] = None
        elif oa is None or oc is None or oc < 0:
            raise Malformed("bad object id")
        else:
            op["obj"] = None if oc == 0 else (oc, oa & 0xFFFFFFFF)  # A16: (actor, 0) = root
        ks, ka, kc = key_s.next(), key_a.next(), key_c.next()
        if kc is None and ka is None:
            elem = None
        elif kc == 0 and ka is None:
            elem = "_head"
        elif kc is not None and kc > 0 and ka is not None:
            elem = (kc, ka & 0xFFFFFFFF)
        else:
            raise Malformed("bad element id")
        if (ks is None) == (elem is None):
            raise Malformed("need exactly one of key string and element id")
        op["key"] = ("key", ks) if ks is not None else ("elemId", elem)
        act = action.next()
        if act is None:
            raise Malformed("no action")
        if act > 7:
            raise Malformed("action above 7")
        op["action"] = act
        op["insert"] = insert.next() or False
        op["expand"] = expand.next() or False
        op["mark_name"] = mark.next()
        m = meta.next()
        if m is None:
            raise Malformed("no value metadata")
        n = m >> 4
        if vpos + n > len(values):
            raise Malformed("VALUE shorter than VALUE_META says")
        op["code"], op["value"] = parse_value(m, values[vpos:vpos + n])
        vpos += n
        preds = []
        for _ in range(pcount.next() or 0):
            pa, pc = pactor.next(), pctr.next()
            if pa is None or pc is None or pc < 0:
                raise Malformed("bad pred id")
            preds.append((pc, pa & 0xFFFFFFFF))
        op["pred"] = preds
        ops.append(op)
    return ops


# ------------------------------------------------------- gathering changes

VEC_MAX_OPS = 18  # 0.12.0's smaller change encoder (A18)


def gather(changes, ops):
    """7.1.6 'Which change an op belongs to', with A17 and A18."""
    ranges = {}
    for i, c in enumerate(changes):
        if c["max_op"] + 1 < c["start_op"]:
            raise Malformed("unspecified: MAX_OP < START_OP - 1")
        c["n"] = c["max_op"] + 1 - c["start_op"]
        ranges.setdefault(c["actor"], []).append(i)
    for idx in ranges.values():
        idx.sort(key=lambda i: changes[i]["seq"])
        for x, y in zip(idx, idx[1:]):
            if changes[y]["start_op"] <= changes[x]["max_op"] and changes[y]["n"] and changes[x]["n"]:
                raise Malformed("unspecified: counter ranges of one actor overlap")
            if changes[y]["start_op"] < changes[x]["start_op"]:
                raise Malformed("unspecified: counter ranges do not increase with seq")
    for c in changes:
        c["slots"] = [None] * c["n"] if c["n"] <= VEC_MAX_OPS else None
        c["appended"], c["pending"], c["next"] = [], {}, 0
    for op in ops:
        ctr, a = op["id"]
        owner = None
        for i in ranges.get(a, []):
            if changes[i]["start_op"] <= ctr <= changes[i]["max_op"]:
                owner = changes[i]
        if owner is None:
            continue  # A17: dropped
        i = ctr - owner["start_op"]
        if owner["slots"] is not None:
            if owner["slots"][i] is not None:
                raise Malformed("two ops with one id")
            owner["slots"][i] = op
        elif i == owner["next"]:
            owner["appended"].append(op)
            owner["next"] += 1
            while owner["next"] in owner["pending"]:
                owner["appended"].append(owner["pending"].pop(owner["next"]))
                owner["next"] += 1
        else:
            owner["pending"][i] = op
    for c in changes:
        if c["slots"] is not None:
            first = next((j for j, s in enumerate(c["slots"]) if s is not None), 0)
            c["ops"] = c["slots"][first:]
            if None in c["ops"]:
                raise Malformed("a change lacks an op")
        else:
            c["ops"] = c["appended"] + [c["pending"][j] for j in sorted(c["pending"])]
        c["startOp"] = c["ops"][0]["id"][0] if c["ops"] else c["max_op"] + 1
        if c["startOp"] == 0:
            raise Malformed("rebuilt startOp is 0")


# ---------------------------------------------------- rebuilding (7.1.7)

def canonical_rle(values, pack):
    out, lit, i = bytearray(), [], 0

    def flush():
        if lit:
            out.extend(leb(-len(lit)) + b"".join(pack(v) for v in lit))
            lit.clear()
    while i < len(values):
        j = i
        while j < len(values) and values[j] == values[i]:
            j += 1
        v, n = values[i], j - i
        if v is None:
            flush()
            out.extend(leb(0) + varint(n))
        elif n >= 2:
            flush()
            out.extend(leb(n) + pack(v))
        else:
            lit.append(v)
        i = j
    flush()
    return bytes(out)


def canonical_delta(values):
    deltas, acc = [], 0
    for v in values:
        if v is None:
            deltas.append(None)
        else:
            deltas.append(v - acc)
            acc = v
    return canonical_rle(deltas, leb)


def canonical_bools(values):
    out, cur, n = bytearray(), False, 0
    for v in values:
        if v == cur:
            n += 1
        else:
            out.extend(varint(n))
            cur, n = v, 1
    if values:
        out.extend(varint(n))
    return bytes(out)


def pack_str(s):
    b = s.encode("utf-8")
    return varint(len(b)) + b


def value_bytes(code, v):
    if code in (0, 1, 2):
        return b""
    if code == 3:
        return varint(v)
    if code in (4, 8, 9):
        return leb(v)
    if code == 5:
        return struct.pack("<d", v)
    if code == 6:
        return v.encode("utf-8")
    return bytes(v)


def change_chunk(c, deps, actors):
    ops = c["ops"]
    named = set()
    for op in ops:
        if op["obj"] is not None:
            named.add(op["obj"][1])
        if op["key"][0] == "elemId" and op["key"][1] != "_head":
            named.add(op["key"][1][1])
        named.update(p[1] for p in op["pred"])
    named.discard(c["actor"])
    for a in named:
        if a >= len(actors):
            raise Malformed("actor index not in the actor table")
    others = sorted(named)  # in actor-table order
    local = {c["actor"]: 0, **{a: j + 1 for j, a in enumerate(others)}}
    elem = [op["key"][1] if op["key"][0] == "elemId" else None for op in ops]
    preds = [p for op in ops for p in op["pred"]]
    raws = [value_bytes(op["code"], op["value"]) for op in ops]
    cols = []

    def add(spec, values, data, always=False):
        if always or any(v is not None and v is not False for v in values):
            cols.append((spec, data))
    objs = [op["obj"] for op in ops]
    add(0x01, objs, canonical_rle([o and local[o[1]] for o in objs], varint))
    add(0x02, objs, canonical_rle([o and o[0] for o in objs], varint))
    ka = [None if e in (None, "_head") else local[e[1]] for e in elem]
    kc = [None if e is None else 0 if e == "_head" else e[0] for e in elem]
    ks = [op["key"][1] if op["key"][0] == "key" else None for op in ops]
    add(0x11, ka, canonical_rle(ka, varint))
    add(0x13, kc, canonical_delta(kc))
    add(0x15, ks, canonical_rle(ks, pack_str))
    add(0x34, [], canonical_bools([op["insert"] for op in ops]), True)
    add(0x42, [], canonical_rle([op["action"] for op in ops], varint), True)
    add(0x56, [], canonical_rle([len(r) << 4 | op["code"] for r, op in zip(raws, ops)], varint), True)
    add(0x57, [], b"".join(raws), True)
    add(0x70, [], canonical_rle([len(op["pred"]) for op in ops], varint), True)
    add(0x71, [], canonical_rle([local[p[1]] for p in preds], varint), True)
    add(0x73, [], canonical_delta([p[0] for p in preds]), True)
    add(0x94, [op["expand"] for op in ops], canonical_bools([op["expand"] for op in ops]))
    mn = [op["mark_name"] for op in ops]
    add(0xA5, mn, canonical_rle(mn, pack_str))
    cols = [(s, d) for s, d in cols if d]  # nothing empty is written

    data = bytearray(varint(len(deps)) + b"".join(deps))
    data += varint(len(actors[c["actor"]])) + actors[c["actor"]]
    data += varint(c["seq"]) + varint(c["startOp"]) + leb(c["time"])
    msg = (c["message"] or "").encode("utf-8")
    data += varint(len(msg)) + msg
    data += varint(len(others)) + b"".join(varint(len(actors[a])) + actors[a] for a in others)
    data += varint(len(cols)) + b"".join(varint(s) + varint(len(d)) for s, d in cols)
    data += b"".join(d for _, d in cols) + c["extra"]
    head = bytes([1]) + varint(len(data))
    digest = hashlib.sha256(head + data).digest()
    return MAGIC + digest[:4] + head + bytes(data), digest


ACTIONS = ["makeMap", "set", "makeList", "del", "makeText", "inc", "makeTable", "mark"]
DATATYPES = {3: "uint", 4: "int", 5: "float64", 8: "counter", 9: "timestamp"}


def value_json(code, v):
    if code == 7:
        return list(v)
    if code >= 10:
        return {"type_code": code, "bytes": list(v)}
    if code == 5 and (v != v or v in (float("inf"), float("-inf"))):
        return None
    return v


def change_json(c, deps, actors, digest):
    opid = lambda i: f"{i[0]}@{actors[i[1]].hex()}"
    ops = []
    for op in c["ops"]:
        a, code, v = op["action"], op["code"], op["value"]
        j = {"action": ACTIONS[a] if a != 7 else
             "markBegin" if op["mark_name"] is not None else "markEnd",
             "obj": "_root" if op["obj"] is None else opid(op["obj"])}
        kind, k = op["key"]
        j[kind] = k if kind == "key" or k == "_head" else opid(k)
        if op["insert"]:
            j["insert"] = True
        if a == 1:
            if code in DATATYPES:
                j["datatype"] = DATATYPES[code]
            j["value"] = value_json(code, v)
        elif a == 5:
            if code not in (3, 4):
                return None  # Automerge has no JSON form for it (it panics)
            j["value"] = to_i64(v)
        elif a == 7 and op["mark_name"] is not None:
            j["name"], j["value"], j["expand"] = op["mark_name"], value_json(code, v), op["expand"]
        elif a == 7:
            j["expand"] = op["expand"]
        j["pred"] = [opid(p) for p in op["pred"]]
        ops.append(j)
    out = {"ops": ops, "actor": actors[c["actor"]].hex(), "hash": digest.hex(),
           "seq": c["seq"], "startOp": c["startOp"], "time": c["time"],
           "message": c["message"] or None, "deps": [d.hex() for d in deps]}
    if c["extra"]:
        out["extra_bytes"] = list(c["extra"])
        e = c["extra"]
        f, n = col_uint(e, 0), None
        if f is not None and f[0] == 1:
            n = col_uint(e, f[1])
        if n is not None and len(e) - n[1] >= n[0]:
            out["author"] = e[n[1]:n[1] + n[0]].hex()
    return out


# ------------------------------------------------------------------ driver

def decode_bundle(chunk):
    hdr, ext, actors, ccols, ocols, specs = parse(chunk)
    changes = read_changes(ccols)
    counters = op_counters(changes, ocols)
    ops = read_ops(ocols, counters)
    gather(changes, ops)
    built = []
    for i, c in enumerate(changes):
        if c["actor"] >= len(actors):
            raise Malformed("change actor not in the actor table")
        deps = []
        for d in c["deps"]:
            if 0 <= d < i:
                deps.append(built[d]["hash"])
            elif d >= len(changes) and d - len(changes) < len(ext):
                deps.append(ext[d - len(changes)])
            else:
                raise Malformed("dependency index points nowhere")
        raw, digest = change_chunk(c, deps, actors)
        built.append(dict(hash=digest, bytes=raw, json=change_json(c, deps, actors, digest)))
    return dict(header=hdr, ext=ext, actors=actors, changes=built, specs=specs)


def inflate_group(group):
    d = zlib.decompressobj(-15)
    try:
        out = d.decompress(group, MAX_BUNDLE + 1)
    except zlib.error:
        raise Malformed("group is not raw DEFLATE")
    if len(out) > MAX_BUNDLE:
        raise Malformed("group expands beyond 16 MiB")
    if not d.eof or d.unused_data or d.unconsumed_tail:
        raise Malformed("group is not exactly one complete DEFLATE stream")
    return out


def read_vector(path):
    v = {"changes": []}
    for line in open(path, encoding="utf-8"):
        tag, _, rest = line.rstrip("\n").partition(" ")
        rest = rest.strip()
        if tag in ("group", "bundle"):
            v[tag] = bytes.fromhex(rest)
        elif tag == "change":
            v["changes"].append({"hash": rest})
        elif tag in ("bytes", "json"):
            v["changes"][-1][tag] = rest if tag == "bytes" else json.loads(rest)
    return v


def same_json(a, b):
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def check(path, verbose):
    v = read_vector(path)
    bad = 0
    if "group" in v:
        bundle = inflate_group(v["group"])
        if "bundle" in v and bundle != v["bundle"]:
            print("  group does not inflate to bundle")
            bad += 1
    else:
        bundle = v["bundle"]
    r = decode_bundle(bundle)
    h = r["header"]
    print(f"  {len(bundle)} bytes; checksum {'ok' if h['checksum_ok'] else 'WRONG'}; "
          f"{len(r['changes'])} changes, {len(r['actors'])} actors, {len(r['ext'])} external deps")
    print("  change columns " + " ".join(f"{s:02x}" for s in r["specs"]["change"])
          + "; op columns " + " ".join(f"{s:02x}" for s in r["specs"]["op"]))
    if len(r["changes"]) != len(v["changes"]):
        print(f"  {len(r['changes'])} changes decoded, {len(v['changes'])} expected")
        return bad + 1
    counts = dict(hash=0, bytes=0, json=0)
    for i, (got, want) in enumerate(zip(r["changes"], v["changes"])):
        checks = [("hash", got["hash"].hex() == want["hash"])]
        if "bytes" in want:
            checks.append(("bytes", got["bytes"].hex() == want["bytes"]))
        if "json" in want:
            checks.append(("json", same_json(got["json"], want["json"])))
        for what, ok in checks:
            counts[what] += ok
            if not ok:
                bad += 1
                print(f"  change {i} {want['hash'][:16]}: {what} MISMATCH")
                if what == "json":
                    print("    got ", json.dumps(got["json"]))
                    print("    want", json.dumps(want["json"]))
                elif what == "bytes":
                    print("    got ", got["bytes"].hex())
                    print("    want", want["bytes"])
        if verbose:
            print(f"  change {i} {want['hash'][:16]}: " + ", ".join(
                f"{w} {'ok' if ok else 'MISMATCH'}" for w, ok in checks))
    n = len(v["changes"])
    print(f"  matched: hash {counts['hash']}/{n}, bytes {counts['bytes']}/"
          f"{sum('bytes' in w for w in v['changes'])}, json {counts['json']}/"
          f"{sum('json' in w for w in v['changes'])}")
    return bad


def check_malformed(path):
    """Lines `NAME<TAB>ACCEPT h,h,..|REFUSE<TAB>HEX`: 0.12.0's verdict on a bundle."""
    agree, differ = 0, []
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        name, want, hexdata = line.rstrip("\n").split("\t")
        try:
            r = decode_bundle(bytes.fromhex(hexdata))
            got = "ACCEPT " + ",".join(c["hash"].hex() for c in r["changes"])
        except Malformed as e:
            got, why = "REFUSE", str(e)
        if got == want:
            agree += 1
        else:
            differ.append(name)
            print(f"  {name}: 0.12.0 {want[:40]}…, decode.py {got[:40]}… {why if got == 'REFUSE' else ''}")
    print(f"  agree with 0.12.0 on {agree} of {agree + len(differ)}")
    return differ


def main(args):
    if args[:1] == ["--malformed"]:
        if len(args) < 2:
            sys.exit("usage: decode.py --malformed malformed.txt")
        differ = check_malformed(args[1])
        expected = {"key-not-utf8"}  # unspecified in 7.1.8: 0.12.0 copies invalid UTF-8 unchecked
        print("PASS (differences only where 7.1.8 says unspecified)" if set(differ) <= expected
              else "FAIL")
        return 0 if set(differ) <= expected else 1
    verbose = "-q" not in args
    paths = [a for a in args if a != "-q"]
    if not paths:
        sys.exit("usage: decode.py [-q] VECTOR_FILE ...")
    bad = 0
    for p in paths:
        print(p)
        try:
            bad += check(p, verbose)
        except Malformed as e:
            print(f"  refused: {e}")
            bad += 1
    print("PASS" if not bad else f"FAIL ({bad})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
