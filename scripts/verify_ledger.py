#!/usr/bin/env python3
"""Offline verifier for GovernanceLedger's tamper evidence.

Needs only python3's standard library (SHA-256, and RSA done with pow()) and the ledger's JWKS:

  python3 scripts/verify_ledger.py --jwks jwks.json [--witness DIR] [--export chain.ndjson]
                                   [--proof proof.json ...] [--consistency consistency.json ...]

--witness      the witness directory: every checkpoint's signature (a checkpoint key of the JWKS), its
               continuity with the one before, and the link and RFC 9162 Merkle root recomputed from
               the content hashes it keeps.
--export       GET /audit/chain-export: every line's content hash recomputed from the event, every link
               from the one before, every sequence present, and each compared with the witness.
--proof        GET /audit/proof/{seq}: the event hashes to a leaf of the tree the signed checkpoint holds.
--consistency  GET /audit/consistency?from=&to=: the later signed tree extends the earlier one.

Prints what it checked and every problem found ("BROKEN at <seq>: <reason>: <detail>"); exits 1 if any.
"""
import argparse, base64, hashlib, hmac, json, os, sys

SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def b64u(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sha(data):
    return hashlib.sha256(data).digest()


def leaf_hash(content):
    return sha(b"\x00" + content)


def node_hash(left, right):
    return sha(b"\x01" + left + right)


def content_hash(seq, event):
    """The chain's content hash of a sequence: the event's canonical text, or a hole (rolled-back transaction)."""
    if event is None:
        return sha(f"{seq}|hole".encode())
    head = f"{seq}|{event['stream']}|{event['version']}|{event['type']}|{event['timestamp']}|"
    if event.get("format", 1) == 1:
        return sha(f"{head}{event['data']}".encode())
    # Format 2 also covers the event's id, correlation id and causation id; a free-text one is "-" when absent, else its
    # UTF-8 length, ':' and the text.
    def field(text):
        return "-" if text is None else f"{len(text.encode())}:{text}"
    return sha(f"{head}{event['id']}|{field(event.get('correlation_id'))}|{field(event.get('causation_id'))}|{event['data']}".encode())


LEDGER_ASSEMBLIES = ("GovernanceLedger.Contracts", "GovernanceLedger")


def unhashed_problem(event, aliases):
    """What is wrong with the columns the content hash leaves out but that change what the ledger reads back, or None.

    The ledger writes them one way: not archived, the default tenant, no binary body, and the .NET type its alias names
    (Marten's default alias is the class name in snake case, from the ledger's own assemblies, one type per alias)."""
    if "dotnet_type" not in event:
        return None   # an export from before these columns were exported
    if event["archived"]:
        return "the event is marked archived (is_archived): it is left out of its stream"
    if event["tenant"] != "*DEFAULT*":
        return f"the event was moved to tenant {event['tenant']!r} (tenant_id)"
    if event["binary"]:
        return "the event has binary data (bdata) beside its JSON"
    dotnet = event["dotnet_type"] or ""
    # Marten's own filler for sequence numbers a failed transaction took: chained like any event.
    if event["type"] == "tombstone" or dotnet == "JasperFx.Events.Tombstone, JasperFx.Events":
        if (event["type"], dotnet) != ("tombstone", "JasperFx.Events.Tombstone, JasperFx.Events"):
            return f"the event of type {event['type']!r} is stored as the .NET type {dotnet!r} (mt_dotnet_type)"
        return None
    name, _, assembly = dotnet.partition(", ")
    simple = name.split(".")[-1].split("+")[-1]
    snake = "".join(("_" + c.lower()) if c.isupper() and i else c.lower() for i, c in enumerate(simple))
    seen = aliases.setdefault(event["type"], dotnet)
    if assembly not in LEDGER_ASSEMBLIES or not name.startswith("GovernanceLedger.") or snake != event["type"] or seen != dotnet:
        return f"the event of type {event['type']!r} is stored as the .NET type {dotnet!r} (mt_dotnet_type)"
    return None


def rs256_valid(jwk, signing_input, signature):
    """RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017 8.2.2), by hand: no crypto library needed."""
    n = int.from_bytes(b64u(jwk["n"]), "big")
    e = int.from_bytes(b64u(jwk["e"]), "big")
    k = (n.bit_length() + 7) // 8
    if len(signature) != k:
        return False
    em = pow(int.from_bytes(signature, "big"), e, n).to_bytes(k, "big")
    t = SHA256_DIGEST_INFO + sha(signing_input)
    return hmac.compare_digest(em, b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t)


def signed_statement(jws, keys):
    """The statement a checkpoint JWS signs; ValueError unless a checkpoint key of the JWKS signed it."""
    header_b64, payload_b64, signature_b64 = jws.split(".")
    header = json.loads(b64u(header_b64))
    key = keys.get(header.get("kid"))
    if header.get("alg") != "RS256" or header.get("typ") != "govledger-checkpoint+jws":
        raise ValueError("not a checkpoint JWS")
    if key is None or key.get("purpose") != "checkpoints":
        raise ValueError(f"kid {header.get('kid')} is not a checkpoint key of the JWKS")
    if not rs256_valid(key, f"{header_b64}.{payload_b64}".encode(), b64u(signature_b64)):
        raise ValueError(f"the signature does not verify with {header['kid']}")
    return json.loads(b64u(payload_b64))


class Frontier:
    """The right edge of a growing RFC 9162 tree: one complete subtree per set bit of its size."""

    def __init__(self):
        self.size, self.stack = 0, []

    def append(self, hash_):
        position = self.size
        while position & 1:
            hash_ = node_hash(self.stack.pop(), hash_)
            position >>= 1
        self.stack.append(hash_)
        self.size += 1

    def root(self):
        if not self.stack:
            return sha(b"")
        root = self.stack[-1]
        for subtree in reversed(self.stack[:-1]):
            root = node_hash(subtree, root)
        return root


def verify_inclusion(index, size, hash_, path, root):
    """RFC 9162 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, hash_
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, proof):
    """RFC 9162 2.1.4.2."""
    if first == second:
        return not proof and first_root == second_root
    if first <= 0 or first > second or not proof:
        return False
    path = ([first_root] if first & (first - 1) == 0 else []) + proof
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0


class Verifier:
    def __init__(self, jwks):
        self.keys = {k["kid"]: k for k in jwks["keys"]}
        self.problems = []
        self.leaves = []          # witnessed content hashes, sequence i+1 at index i
        self.statements = {}      # tree size -> signed statement of the witnessed checkpoint

    def problem(self, seq, reason, detail):
        self.problems.append((seq, reason, detail))

    def witness(self, directory):
        link, frontier = bytes(32), Frontier()
        for name in sorted(f for f in os.listdir(directory) if f.endswith(".checkpoint.json")):
            with open(os.path.join(directory, name)) as f:
                w = json.load(f)
            size, previous = w["tree_size"], w["previous_tree_size"]
            if previous != len(self.leaves):
                return self.problem(len(self.leaves) + 1, "witness-gap", f"no witness file covers {len(self.leaves) + 1}..{previous}")
            try:
                st = signed_statement(w["jws"], self.keys)
            except ValueError as e:
                return self.problem(size, "witness-signature", f"{name}: {e}")
            leaves = base64.b64decode(w["leaves"])
            if st["tree_size"] != size or st["previous_tree_size"] != previous or len(leaves) != 32 * (size - previous):
                return self.problem(size, "witness-invalid", f"{name} does not match the checkpoint it holds")
            for i in range(0, len(leaves), 32):
                content = leaves[i:i + 32]
                self.leaves.append(content)
                link = sha(link + content)
                frontier.append(leaf_hash(content))
            if link.hex() != st["link"] or (st["root"] is not None and frontier.root().hex() != st["root"]):
                return self.problem(size, "witness-invalid", f"the leaves of {name} do not hash to the link and root it signed")
            self.statements[size] = st
        print(f"ok: witness {directory}: {len(self.statements)} signed checkpoints, sequences 1..{len(self.leaves)}")

    def export(self, path):
        previous, expected, last, aliases = None, None, 0, {}
        with open(path) as f:
            for line in f:
                e = json.loads(line)
                seq = e["sequence"]
                if expected is None:
                    expected, previous = seq, (bytes(32) if seq == 1 else None)
                for missing in range(expected, seq):
                    self.problem(missing, "deleted", "neither the event nor its chain link is in the export")
                    previous = None
                recorded, link = bytes.fromhex(e["content_hash"]), bytes.fromhex(e["link"])
                witnessed = self.leaves[seq - 1] if seq <= len(self.leaves) else recorded
                if e["kind"] == "hole":
                    if "data" in e:
                        self.problem(seq, "inserted", "an event where the chain recorded a hole")
                    elif witnessed != recorded:
                        self.problem(seq, "deleted", "the chain records a hole, the witness saw an event here")
                elif "data" not in e:
                    self.problem(seq, "missing-checkpoint" if e["kind"] == "checkpoint" else "deleted", "the event is gone")
                elif content_hash(seq, e) != witnessed:
                    self.problem(seq, "edited", "the event does not hash to what was chained and witnessed")
                elif recorded != witnessed:
                    self.problem(seq, "chain-rewritten", "the chain's content hash differs from the witness")
                if "data" in e and (altered := unhashed_problem(e, aliases)):
                    self.problem(seq, "edited", altered)
                if previous is not None and sha(previous + recorded) != link:
                    self.problem(seq, "chain-rewritten", "the link does not follow from the previous link")
                if seq in self.statements and link.hex() != self.statements[seq]["link"]:
                    self.problem(seq, "checkpoint-mismatch", "the chain here differs from the witnessed checkpoint")
                previous, expected, last = link, seq + 1, seq
        if last < len(self.leaves):
            self.problem(last + 1, "truncated", f"the export ends at {last}, the witness holds the ledger up to {len(self.leaves)}")
        print(f"ok: export {path}: checked up to sequence {last}")

    def head(self, jws, size, root):
        """A signed tree head; also compared with the witness when one was read."""
        st = signed_statement(jws, self.keys)
        if st["tree_size"] != size or st["root"] != root:
            raise ValueError(f"the proof's tree head ({size}, {root}) is not the one its checkpoint signed")
        if self.statements and size in self.statements and self.statements[size]["root"] != root:
            raise ValueError(f"the checkpoint at {size} differs from the witnessed one")
        return bytes.fromhex(root)

    def proof(self, path):
        with open(path) as f:
            p = json.load(f)
        seq = p["sequence"]
        try:
            root = self.head(p["checkpoint"], p["tree_size"], p["root"])
        except ValueError as e:
            return self.problem(seq, "proof-checkpoint", str(e))
        content = content_hash(seq, p["event"])
        audit_path = [bytes.fromhex(h) for h in p["audit_path"]]
        if content.hex() != p["content_hash"] or p["leaf_index"] != seq - 1 \
                or not verify_inclusion(seq - 1, p["tree_size"], leaf_hash(content), audit_path, root):
            return self.problem(seq, "proof-invalid", f"the event does not lead to the root of checkpoint {p['tree_size']}")
        what = p["event"]["type"] if p["event"] else "hole"
        print(f"ok: sequence {seq} ({what}) is in the ledger at signed checkpoint {p['tree_size']}")

    def consistency(self, path):
        with open(path) as f:
            c = json.load(f)
        first, second = c["from"], c["to"]
        try:
            first_root = self.head(first["checkpoint"], first["tree_size"], first["root"])
            second_root = self.head(second["checkpoint"], second["tree_size"], second["root"])
        except ValueError as e:
            return self.problem(first["tree_size"], "proof-checkpoint", str(e))
        if not verify_consistency(first["tree_size"], second["tree_size"], first_root, second_root, [bytes.fromhex(h) for h in c["proof"]]):
            return self.problem(first["tree_size"], "proof-invalid", f"checkpoint {second['tree_size']} does not extend checkpoint {first['tree_size']}")
        print(f"ok: checkpoint {second['tree_size']} extends checkpoint {first['tree_size']} (append-only)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jwks", required=True)
    parser.add_argument("--witness")
    parser.add_argument("--export")
    parser.add_argument("--proof", action="append", default=[])
    parser.add_argument("--consistency", action="append", default=[])
    args = parser.parse_args()
    with open(args.jwks) as f:
        verifier = Verifier(json.load(f))
    if args.witness:
        verifier.witness(args.witness)
    if args.export:
        verifier.export(args.export)
    for path in args.proof:
        verifier.proof(path)
    for path in args.consistency:
        verifier.consistency(path)
    for seq, reason, detail in sorted(verifier.problems):
        print(f"BROKEN at {seq}: {reason}: {detail}")
    print("broken" if verifier.problems else "intact")
    return 1 if verifier.problems else 0


if __name__ == "__main__":
    sys.exit(main())
