"""A reference model of sqlite-entitlements: the contract (SPEC.md and the
README) written again, independently of the C code, in plain Python.

It keeps the state as dicts and lists (no SQLite) and answers every call the
way the contract says. tests/model/test_model.py drives it and the real
extension with the same random operations and compares every read.

Times are unix milliseconds; text times are 'YYYY-MM-DD HH:MM:SS' UTC. A call
that fails returns Err(kind) where kind is 'denied' (SQLITE_CONSTRAINT_FUNCTION)
or 'error' (anything else); a denial or error changes nothing.
"""
import copy
import datetime as dt

EPOCH = dt.datetime(1970, 1, 1)
PERIODS = ("minute", "hour", "day", "week", "month", "year", "lifetime")
RATE_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
MAXI = 2**63 - 1


class Err(Exception):
    def __init__(self, kind, why=""):
        super().__init__(kind, why)
        self.kind, self.why = kind, why


def cache_size(before, size=None):
    """entitlements_cache([size]): the connection's memo size before the call;
    a size is an integer from 0 (off) to 1000000. Answers never depend on it."""
    if size is not None and (type(size) is not int or size < 0 or size > 1000000):
        raise Err("error", "entitlements_cache: size must be an integer from 0 (off) to 1000000")
    return before


def to_dt(ms):
    return EPOCH + dt.timedelta(milliseconds=ms)


def to_ms(d):
    return (d - EPOCH) // dt.timedelta(milliseconds=1)


def fmt(ms):
    return to_dt(ms).strftime("%Y-%m-%d %H:%M:%S")


def parse(text):
    return to_ms(dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S"))


def month_len(y, m):
    nxt = dt.date(y + (m == 12), m % 12 + 1, 1)
    return (nxt - dt.date(y, m, 1)).days


def anchored(y, m, anchor):
    """The anchored instant in month (y, m): the anchor's day clamped to the
    month's length, at the anchor's time of day."""
    day = min(anchor.day, month_len(y, m))
    return dt.datetime(y, m, day, anchor.hour, anchor.minute, anchor.second)


def period_bounds(period, anchor_ms, now_ms):
    """(start, end) in ms of the period containing now; lifetime: (None, None)."""
    t = to_dt(now_ms)
    if period == "lifetime":
        return None, None
    if period in ("minute", "hour", "day"):
        step = {"minute": 60000, "hour": 3600000, "day": 86400000}[period]
        start = now_ms // step * step
        return start, start + step
    if period == "week":
        day0 = dt.datetime(t.year, t.month, t.day) - dt.timedelta(days=t.weekday())
        return to_ms(day0), to_ms(day0 + dt.timedelta(days=7))
    a = to_dt(anchor_ms) if anchor_ms is not None else dt.datetime(1970, 1, 1)
    if period == "month":
        y, m = t.year, t.month
        start = anchored(y, m, a)
        if start > t:
            y, m = (y - 1, 12) if m == 1 else (y, m - 1)
            start = anchored(y, m, a)
        ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
        return to_ms(start), to_ms(anchored(ny, nm, a))
    y = t.year  # year
    start = anchored(y, a.month, a)
    if start > t:
        y -= 1
        start = anchored(y, a.month, a)
    return to_ms(start), to_ms(anchored(y + 1, a.month, a))


class Feature:
    """One feature's entitlement for a subject, after inheritance, overrides
    and seats. found: a plan in the chain (or an override) names it."""

    def __init__(self, name, ftype):
        self.name, self.type = name, ftype
        self.found = self.enabled = self.unlimited = False
        self.quota, self.period, self.soft, self.cap = 0, "month", False, None
        self.per_seat = self.pool = False
        self.price = None  # micro-units per unit over quota
        self.value = None  # config/boolean JSON value (Python)
        self.alerts = [80, 100]  # settings.alerts, else these
        self.burst, self.rate_seconds, self.rate_period = 0, 0, None
        self.pricing = None  # priced in a currency: the feature's "currency", rates, "per"
        self.decimals = None  # a currency: its decimal places


class Subject:
    def __init__(self, name):
        self.name = name
        self.plan = None  # effective plan name; None: entitled to nothing
        self.seats, self.anchor, self.bypass = 1, None, False
        self.ovr = None  # whose overrides apply
        self.pool_owner = None


class Model:
    def __init__(self):
        self.now = 0
        self.features = {}  # name -> type, in document order
        self.plans = {}  # name -> dict(rank, default, inherits, features{name: spec})
        self.settings_alerts = None
        self.settings_spend_cap = None  # settings.spend_cap, as written
        self.subjects = {}  # name -> dict(plan, status, trial, grace, seats, parent, anchor, bypass)
        self.overrides = {}  # (subject, feature) -> dict of columns
        self.counters = {}  # (subject, feature, period, start_text) -> [used, from_grants]
        self.grants = []  # dicts, id order
        self.rates = {}  # (subject, feature) -> tat in us
        self.events = []  # ledger rows as dicts
        self.alerts = set()  # (subject, feature, period, start, threshold, used, quota)
        self.next_grant = 1
        self.holds = {}  # id -> dict: quota_reserve's holds, in the order taken
        self.next_hold = 1
        self.currencies = {}  # name -> decimals
        self.rollovers = {}  # feature or currency -> (max or None, expires_after)
        self.writing = False  # in a call that records use: it makes rollover grants
        self.pricing = {}  # feature -> dict(currency, per, rate | by, values, default), micros

    def snapshot(self):
        return copy.deepcopy(self.__dict__)

    def restore(self, snap):
        """Back to a snapshot, as a rollback is: the clock is not in the database."""
        now = self.now
        self.__dict__.update(copy.deepcopy(snap))
        self.now = now

    # ---- configuration ----------------------------------------------------

    @staticmethod
    def micros(text):
        units, _, frac = str(text).partition(".")
        return int(units) * 1000000 + int((frac + "000000")[:6])

    def pricing_of(self, spec):
        if "currency" not in spec:
            return None
        p = dict(currency=spec["currency"], per=spec.get("per", 1))
        if "rate" in spec:
            p["rate"] = self.micros(spec["rate"])
        else:
            r = spec["rates"]
            p["by"] = r["by"]
            p["values"] = {k: self.micros(v) for k, v in r["values"].items()}
            p["default"] = self.micros(r["default"]) if "default" in r else None
        return p

    def load(self, doc, mode):
        """doc: {"currencies": {name: {decimals}}, "features": {name: {type, price}},
        "plans": {...}}, already valid."""
        curs = {k: v.get("decimals", 0) for k, v in doc.get("currencies", {}).items()}
        rolls = {k: v.get("rollover") for sec in ("currencies", "features")
                 for k, v in doc.get(sec, {}).items()}
        rolls = {k: v and (v.get("max"), v.get("expires_after", 1)) for k, v in rolls.items()}
        if mode == "merge":  # a feature named again is replaced whole
            rolls = dict(self.rollovers, **rolls)
        self.rollovers = {k: v for k, v in rolls.items() if v}
        prices = {k: self.pricing_of(v) for k, v in doc.get("features", {}).items()}
        if mode == "merge":
            cur = dict(self.currencies)
            cur.update(curs)
            curs = cur
            pr = dict(self.pricing)
            pr.update(prices)
            prices = pr
        self.currencies = curs
        self.pricing = {k: v for k, v in prices.items() if v is not None}
        if mode != "merge" or "settings" in doc:  # settings are replaced whole
            self.settings_spend_cap = doc.get("settings", {}).get("spend_cap")
        if mode == "merge":
            feats = dict(self.features)
            feats.update({k: v["type"] for k, v in doc.get("features", {}).items()})
            plans = copy.deepcopy(self.plans)
            if any(p.get("default") for p in doc["plans"].values()):
                for p in plans.values():
                    p["default"] = False
            plans.update(copy.deepcopy(doc["plans"]))
        else:
            feats = {k: "metered" for k in curs}  # currencies come first, as in ent_features
            feats.update({k: v["type"] for k, v in doc.get("features", {}).items()})
            plans = copy.deepcopy(doc["plans"])
            in_use = sorted({s["plan"] for s in self.subjects.values() if s["plan"]})
            for p in in_use:
                if p not in plans:
                    raise Err("error", f"replace would delete plan {p} in use")
        self.features, self.plans = feats, plans
        return len(doc["plans"])

    def default_plan(self):
        for name, p in self.plans.items():
            if p.get("default"):
                return name
        return None

    def implied(self, plan, feature):
        """A priced feature the plan does not name is there without a limit
        of its own where the plan has its currency: the currency's spec."""
        p = self.pricing.get(feature)
        if p is None or self.plan_spec(plan, feature) is not None:
            return None
        cur = self.plan_spec(plan, p["currency"])
        return cur if isinstance(cur, dict) else None

    def names(self, plan, feature):
        return self.plan_spec(plan, feature) is not None or self.implied(plan, feature) is not None

    def plan_spec(self, plan, feature):
        """The nearest plan in the inherits chain that names the feature."""
        seen = 0
        while plan is not None and plan in self.plans and seen <= len(self.plans):
            spec = self.plans[plan]["features"].get(feature)
            if spec is not None:
                return spec
            plan = self.plans[plan].get("inherits")
            seen += 1
        return None

    # ---- who a subject is -------------------------------------------------

    def has_overrides(self, who):
        return any(s == who for (s, _f) in self.overrides)

    def resolve(self, subject):
        s = Subject(subject)
        holder, seen = None, []
        while True:
            who = holder or subject
            row = self.subjects.get(who)
            if row and row["bypass"]:
                s.bypass = True
            if row and row["plan"] is None and row["parent"] is not None:
                parent = row["parent"]
                if parent in seen or parent == subject:
                    raise Err("error", "parent cycle")
                if holder:
                    seen.append(holder)
                holder = parent
                continue
            if not row or row["plan"] is None:
                if self.has_overrides(who):
                    s.ovr = who
                s.plan = self.default_plan()
                break
            s.seats = row["seats"]
            s.anchor = row["anchor"]
            status, keep = row["status"], True
            if status in ("trialing", "past_due"):
                end = row["trial"] if status == "trialing" else row["grace"]
                keep = end is None or self.now < end
            elif status in ("canceled", "paused"):
                keep = False
            if keep:
                if self.has_overrides(who):
                    s.ovr = who
                if row["plan"] not in self.plans:
                    raise Err("error", "plan missing")
                s.plan = row["plan"]
            else:
                s.plan = self.default_plan()
            break
        return s

    def pool_owner(self, subject):
        cur = subject
        for _ in range(10001):
            row = self.subjects.get(cur)
            if not row or row["parent"] is None:
                return cur
            cur = row["parent"]
        raise Err("error", "pool cycle")

    def feature(self, s, name):
        if name not in self.features:
            raise Err("error", "unknown feature")
        f = Feature(name, self.features[name])
        f.pricing = self.pricing.get(name)
        f.decimals = self.currencies.get(name)
        spec = self.plan_spec(s.plan, name) if s.plan else None
        cur = self.implied(s.plan, name) if s.plan else None
        if cur is not None:
            f.found = f.enabled = f.unlimited = True
            f.period = cur.get("period", "month")
            f.pool = cur.get("pool", False)
            f.alerts = []
        if spec is False and f.type != "config":  # config false is a value
            # off, with no limit: an override that turns it on makes it unlimited,
            # as for a feature the plan leaves out
            f.found, f.unlimited = True, True
        elif spec is not None:
            f.found = True
            if f.type == "metered":
                f.enabled = True
                f.unlimited = spec.get("limit") is None
                f.quota = spec.get("limit") or 0
                f.period = spec.get("period", "month")
                f.soft = spec.get("soft", False)
                f.cap = spec.get("cap")
                f.per_seat = spec.get("per_seat", False)
                f.pool = spec.get("pool", False)
                if "overage_price" in spec:
                    f.price = round(float(spec["overage_price"]) * 1e6)
                f.alerts = sorted(set(spec.get("alerts") or self.settings_alerts or [80, 100]))
            elif f.type == "rate":
                f.enabled = True
                f.quota = spec["limit"]
                per = spec.get("period", "minute")
                f.rate_period = per if isinstance(per, str) else str(per)
                f.rate_seconds = RATE_SECONDS[per] if isinstance(per, str) else per
                f.burst = spec.get("burst", spec["limit"] if spec["limit"] > 0 else 1)
            else:  # boolean: on or off; config: any value, false included
                f.enabled = spec is not False or f.type == "config"
                f.value = spec
        if s.plan and s.ovr:
            self.apply_override(s, f)
        if not f.found:
            return f
        if f.pool and s.pool_owner is None:
            s.pool_owner = self.pool_owner(s.name)
        if f.per_seat and not f.unlimited:
            f.quota *= s.seats
        return f

    def apply_override(self, s, f):
        o = self.overrides.get((s.ovr, f.name))
        if not o or (o["expires_at"] is not None and not o["expires_at"] > fmt(self.now)):
            return
        if not f.found:
            f.found = f.enabled = f.unlimited = True
            f.period = "month"
            if f.type == "rate":
                f.rate_period, f.rate_seconds = "minute", 60
        if o["enabled"] is not None:
            f.enabled = bool(o["enabled"])
        if o["quota"] is not None:
            f.quota = o["quota"]
            f.unlimited = f.quota < 0
            if f.type == "rate" and not f.unlimited and f.burst < 1:
                f.burst = f.quota if f.quota > 0 else 1
        if o["period"] is not None:
            if f.type == "rate":
                f.rate_period, f.rate_seconds = o["period"], RATE_SECONDS[o["period"]]
            else:
                f.period = o["period"]
        if o["soft"] is not None:
            f.soft = bool(o["soft"])
        if o["cap"] is not None:
            f.cap = o["cap"]
        if o["per_seat"] is not None:
            f.per_seat = bool(o["per_seat"])
        if o["value"] is not None:
            f.value = o["value"]

    def owner(self, s, f):
        return s.pool_owner if f.pool and s.pool_owner else s.name

    # ---- usage ------------------------------------------------------------

    def usage(self, s, f):
        start, end = period_bounds(f.period, s.anchor, self.now)
        key = (self.owner(s, f), f.name, f.period, fmt(start) if start is not None else "")
        return dict(self.counter_usage(key), start=start, end=end)

    def counter_usage(self, key):
        """One counter: used, the grants' share of it, the live holds on it."""
        used, from_grants = self.counters.get(key, [0, 0])
        return {"key": key, "used": used, "from_grants": from_grants, "held": self.live_held(key)}

    def live_held(self, key):
        """The units of the holds on this counter that are still live now."""
        return sum(h["amount"] for h in self.holds.values()
                   if h["ckey"] == key and h["state"] == "held" and h["expires"] > self.now)

    def rollover_grants(self, s, f):
        """rollover.c: the rollover grants in force now of the periods before
        now's; a write makes those not made yet (into self.grants, with a
        ledger row), a read gets them as if made. What a period leaves over:
        its quota less what the quota covered and its live holds, at most
        max; none before the subject's first counter of the feature."""
        ro = self.rollovers.get(f.name)
        if (not ro or not s.plan or not f.enabled or f.unlimited or f.type != "metered"
                or f.period == "lifetime" or f.quota <= 0):
            return []
        mx, n = ro
        past = [period_bounds(f.period, s.anchor, self.now)]
        for _ in range(n):
            past.append(period_bounds(f.period, s.anchor, past[-1][0] - 1))
        end = past[0][1]
        expires = {n: end}
        for k in range(n - 1, 0, -1):
            end = period_bounds(f.period, s.anchor, end)[1]
            expires[k] = end
        owner = self.owner(s, f)
        made = {g["starts_at"] for g in self.grants if g["subject"] == owner
                and g["feature"] == f.name and g["category"] == "rollover"}
        starts = [c[3] for c in self.counters if c[0] == owner and c[1] == f.name
                  and c[2] == f.period]
        first = min(starts) if starts else None
        virtual = []
        for k in range(n, 0, -1):  # oldest first
            start, end = past[k]
            if fmt(end) in made or first is None or first > fmt(start):
                continue
            u = self.counter_usage((owner, f.name, f.period, fmt(start)))
            left = f.quota - max(u["used"] - u["from_grants"], 0) - u["held"]
            if left <= 0:
                continue
            amount = left if mx is None else min(left, mx)
            g = dict(id=None, subject=owner, feature=f.name, amount=amount, remaining=amount,
                     priority=0, starts_at=fmt(end), expires_at=fmt(expires[k]), key=None,
                     category="rollover", voided=None)
            if self.writing:
                g["id"] = self.next_grant
                self.next_grant += 1
                self.grants.append(g)
                self.ledger(owner, f, amount, "grant", None, None)
            else:
                virtual.append(g)
        return virtual

    def active_grants(self, s, f):
        virtual = self.rollover_grants(s, f)
        now = fmt(self.now)
        owner = self.owner(s, f)
        gs = [
            g
            for g in self.grants
            if g["subject"] == owner
            and g["feature"] == f.name
            and g["remaining"] > 0
            and g["starts_at"] <= now
            and (g["expires_at"] is None or g["expires_at"] > now)
            and g["voided"] is None
        ] + virtual
        # rollover grants first, then promotional before paid, priority, expiry, age
        return sorted(
            gs, key=lambda g: (g["category"] != "rollover", g["category"] != "promotional",
                               g["priority"], g["expires_at"] is None, g["expires_at"] or "",
                               g["id"] or 0)
        )

    def available(self, s, f, u):
        """What the plan's quota and the active grants still cover."""
        plan_used = u["used"] - u["from_grants"]
        left = max(f.quota - plan_used, 0)
        total = min(left + sum(g["remaining"] for g in self.active_grants(s, f)), MAXI)
        return max(total - u.get("held", 0), 0)  # live holds take theirs first

    def grant_part(self, s, f, u, amount):
        """Rollover grants first, before the quota; other grants for what the
        quota does not cover."""
        gs = self.active_grants(s, f)
        roll = min(amount, sum(g["remaining"] for g in gs if g["category"] == "rollover"))
        others = sum(g["remaining"] for g in gs if g["category"] != "rollover")
        left = max(f.quota - (u["used"] - u["from_grants"]), 0)
        return roll + min(max(amount - roll - left, 0), others)

    def denied(self, s, f, u, amount):
        if s.bypass:
            return False
        if not s.plan or not f.enabled:
            return True
        if f.type != "metered" or f.unlimited or amount == 0:
            return False
        if f.soft:
            want = min(amount + u.get("held", 0), MAXI)  # with the live holds
            add = want - self.grant_part(s, f, u, want)
            plan_part = u["used"] - u["from_grants"]
            if f.cap is not None and plan_part + add > f.cap:
                return True
            cap = self.spend_cap_of(s, f)
            if cap is None:
                return False
            # the spend cap: what usage past the quotas costs, summed over features
            held = u.get("held", 0)
            add_held = held - self.grant_part(s, f, u, held)
            own_held = self.cost(plan_part + add_held - f.quota, f.price)
            own_after = self.cost(plan_part + add - f.quota, f.price)
            return own_after > own_held and min(self.spent_others(s, f) + own_after, MAXI) > cap
        return amount > self.available(s, f, u)

    @staticmethod
    def cost(over, price):
        return min(max(over, 0) * price, MAXI)

    @staticmethod
    def priced_overage(f):
        return (f.type == "metered" and f.enabled and not f.unlimited and f.soft
                and f.price is not None and f.price > 0)

    def spend_cap_of(self, s, f):
        """The spend cap that applies to f (micros), or None."""
        if not s.plan or s.bypass or not self.priced_overage(f):
            return None
        cap = self.plans[s.plan].get("spend_cap")
        if cap is None:
            cap = self.settings_spend_cap
        return None if cap is None else self.micros(cap)

    def spent_others(self, s, f):
        total = 0
        for name, ftype in self.features.items():
            if name == f.name or ftype != "metered" or not self.names(s.plan, name):
                continue
            g = self.feature(s, name)
            if not self.priced_overage(g):
                continue
            u = self.usage(s, g)
            total = min(total + self.cost(u["used"] - u["from_grants"] - g.quota, g.price), MAXI)
        return total

    def view(self, s, f, u):
        """remaining, overage, granted, percent, cost, status for a metered feature."""
        if not s.plan or not f.enabled:
            return dict(quota=None, remaining=0, overage=0, granted=0, percent=None, cost=None,
                        status="disabled")
        if f.unlimited:
            return dict(quota=None, remaining=None, overage=0, granted=0, percent=None, cost=None,
                        status="unlimited")
        plan_used = u["used"] - u["from_grants"]
        granted = sum(g["remaining"] for g in self.active_grants(s, f))
        remaining = self.available(s, f, u)
        overage = max(plan_used - f.quota, 0)
        percent = 100.0 * plan_used / f.quota if f.quota > 0 else None
        cost = overage * f.price / 1e6 if f.price is not None else None
        status = ("over" if overage > 0 else "exhausted" if remaining == 0
                  else "warning" if (plan_used + u.get("held", 0)) * 5 >= f.quota * 4 else "ok")
        return dict(quota=f.quota, remaining=remaining, overage=overage, granted=granted,
                    percent=percent, cost=cost, status=status)

    # ---- rate limits (GCRA) -----------------------------------------------

    def rate_eval(self, s, f, n):
        """(allowed, remaining, new_tat, retry_us) for n tokens now."""
        now_us = self.now * 1000
        tat = self.rates.get((s.name, f.name))
        if f.unlimited:
            return True, MAXI, tat if tat is not None else now_us, -1
        t = -(-f.rate_seconds * 1000000 // f.quota) if f.quota > 0 else 0
        if t == 0:
            return n == 0, 0, tat if tat is not None else now_us, -1
        tol = f.burst * t
        base = max(tat, now_us) if tat is not None else now_us
        num = now_us + tol - base
        rem = num // t if num >= 0 else -(-num // t)  # truncates toward zero, as C does
        rem = max(min(rem, f.burst), 0)
        if n > f.burst:
            return False, rem, base, -1
        new_tat = base + n * t
        allowed = new_tat - tol <= now_us
        return allowed, rem, new_tat, (-1 if allowed else new_tat - tol - now_us)

    # ---- writes -----------------------------------------------------------

    def ledger(self, subject, f, amount, kind, key, u, requested=None, owner=None, price=None):
        self.events.append(dict(
            id=len(self.events) + 1, at=fmt(self.now), subject=subject, feature=f.name,
            amount=amount, kind=kind, key=key,
            period=None if (f.type == "rate" or kind == "grant") else f.period,
            period_start=None if (f.type == "rate" or kind == "grant") else u["key"][3],
            requested=requested, pool=owner if owner and owner != subject else None,
            **(price or dict(currency=None, charged=None, rate=None, dimension=None))))

    def replay(self, subject, key, feature, kind, amount):
        """The ledger row a retry of this call repeats (None: a new call);
        an error when the key was used for another call."""
        for e in self.events:
            if e["subject"] == subject and e["key"] == key:
                asked = e["requested"] if e["requested"] is not None else e["amount"]
                if e["feature"] != feature or e["kind"] != kind or asked != amount:
                    raise Err("error", "key reused")
                return e
        return None

    def write(self, kind, subject, name, amount=1, key=None, meta=None):
        """consume / try / record / refund: returns remaining (None: NULL), or
        1/0 for try. Raises Err; a failed call changes nothing."""
        snap = self.snapshot()
        try:
            self.writing = True
            return self._write(kind, subject, name, amount, key, meta)
        except Err as e:
            self.restore(snap)
            if kind == "try" and e.kind == "denied":
                return 0
            raise
        finally:
            self.writing = False

    def consume_upto(self, subject, name, amount, key=None, meta=None):
        """consume_quota_upto: the largest n <= amount that consume_quota
        would take now is taken and returned (0: nothing fits, nothing
        recorded); a retry of a recorded key returns what its row took."""
        snap = self.snapshot()
        try:
            self.writing = True
            if amount < 0:
                raise Err("error", "negative amount")
            s = self.resolve(subject)
            f = self.feature(s, name)
            if f.type not in ("metered", "rate"):
                raise Err("error", "not metered")
            if f.pricing:
                return self._priced("upto", s, f, amount, key, meta)
            row = key is not None and amount > 0 and self.replay(subject, key, name, "consume",
                                                                  amount)
            if row:
                return row["amount"]  # a retry: what the first call took
            if f.type != "rate" and amount > 0:
                self.rollover_grants(s, f)

            def fits(n):
                if s.bypass:
                    return True
                if f.type == "rate":
                    return bool(s.plan) and f.enabled and self.rate_eval(s, f, n)[0]
                return not self.denied(s, f, self.usage(s, f), n)
            n = max([n for n in range(1, amount + 1) if fits(n)], default=0)
            if n == 0:
                return 0
            self._write("consume", subject, name, n, key)
            if n != amount:
                self.events[-1]["requested"] = amount
            return n
        except Err:
            self.restore(snap)
            raise
        finally:
            self.writing = False

    def _write(self, kind, subject, name, amount, key, meta=None):
        if amount < 0:
            raise Err("error", "negative amount")
        s = self.resolve(subject)
        f = self.feature(s, name)
        if f.type not in ("metered", "rate"):
            raise Err("error", "not metered")
        if f.pricing:
            return self._priced(kind, s, f, amount, key, meta)
        lk = {"consume": "consume", "try": "consume", "record": "record", "refund": "refund"}[kind]
        found = key is not None and amount > 0 and self.replay(subject, key, name, lk,
                                                               amount) is not None
        if f.type == "rate":
            return self._rate(kind, s, f, amount, key, found)
        u = self.usage(s, f)
        has_quota = bool(s.plan) and f.enabled and not f.unlimited
        if found or amount == 0 or kind == "refund":
            self.writing = False  # records no use: makes no rollover grant either
            if found or amount == 0:
                if kind in ("consume", "try") and not found and self.denied(s, f, u, amount):
                    raise Err("denied")
                return self._result(kind, s, f, has_quota)
            logged = min(amount, max(u["used"], 0))
            if logged > 0:
                c = self.counters.setdefault(u["key"], [0, 0])
                c[0] -= logged
                c[1] = max(0, min(c[1], c[0]))
            if logged > 0 or key is not None:
                self.ledger(subject, f, logged, "refund", key, u,
                            requested=amount if logged != amount else None, owner=self.owner(s, f))
            return self._result(kind, s, f, has_quota)
        self.rollover_grants(s, f)  # made as the grants are read, before anything else
        if kind in ("consume", "try") and self.denied(s, f, u, amount):
            raise Err("denied")
        self.expire_due(u["key"])  # the counter is written anyway: expiries recorded first
        before = self.add_usage(s, f, u["key"], amount,
                                self.grant_part(s, f, u, amount) if has_quota else 0)
        self.ledger(subject, f, amount, lk, key, u, owner=self.owner(s, f))
        if has_quota:
            self.alert(f, u["key"], before, before + amount)
        return self._result(kind, s, f, has_quota)

    # ---- credit currencies (credit.c) ----------------------------------------

    def charge(self, p, rate, units):
        """ceil(units * rate * 10^decimals / (per * 10^6)); overflow: an error."""
        num = units * rate * 10 ** self.currencies[p["currency"]]
        den = p["per"] * 1000000
        c = -(-num // den)
        if c > MAXI:
            raise Err("error", "charge overflow")
        return c

    @staticmethod
    def rate_text(p, rate):
        whole, frac = divmod(rate, 1000000)
        t = str(whole) + (("." + f"{frac:06d}".rstrip("0")) if frac else "")
        return t + (f"/{p['per']}" if p["per"] > 1 else "")

    def pick(self, f, meta):
        """(rate, its text, the dimension's value) that metadata selects."""
        p = f.pricing
        if "rate" in p:
            return p["rate"], self.rate_text(p, p["rate"]), None
        v = (meta or {}).get(p["by"])
        if v is not None and not isinstance(v, str):
            raise Err("error", "dimension not text")
        if v is not None and v in p["values"]:
            return p["values"][v], self.rate_text(p, p["values"][v]), v
        if p["default"] is not None:
            return p["default"], self.rate_text(p, p["default"]), v
        raise Err("error", "no rate")

    @staticmethod
    def read_rate(p):
        if "rate" in p:
            return p["rate"]
        return p["default"] if p["default"] is not None else min(p["values"].values())

    def _priced(self, kind, s, f, amount, key, meta):
        """A call on a priced feature: its units and its currency's charge,
        both decided, both counted; two ledger rows (credit.c's run())."""
        if kind == "refund":
            raise Err("error", "refund of a priced feature")
        rate, text, dim = self.pick(f, meta)
        charge = self.charge(f.pricing, rate, amount)
        c = self.feature(s, f.pricing["currency"])
        lk = "record" if kind == "record" else "consume"
        row = key is not None and amount > 0 and self.replay(s.name, key, f.name, lk, amount)
        u, cu = self.usage(s, f), self.usage(s, c)
        if row or amount == 0:
            self.writing = False  # records nothing: makes no rollover grant either
        self.rollover_grants(s, f)
        self.rollover_grants(s, c)
        asked = amount
        if kind == "upto":
            if row:
                amount = row["amount"]
            elif amount > 0:
                def fits(n):
                    if s.bypass:
                        return True
                    try:
                        ch = self.charge(f.pricing, rate, n)
                    except Err:
                        return False
                    return not self.denied(s, f, u, n) and not self.denied(s, c, cu, ch)
                # the largest n that fits, by definition (no monotonicity assumed)
                amount = max([n for n in range(1, amount + 1) if fits(n)], default=0)
                charge = self.charge(f.pricing, rate, amount)
        if not row and kind in ("consume", "try") and not s.bypass:
            if self.denied(s, f, u, amount) or self.denied(s, c, cu, charge):
                raise Err("denied", "priced")
        if not row and amount > 0:
            price = dict(currency=c.name, charged=charge, rate=text, dimension=dim)
            self.expire_due(u["key"])  # both counters' expiries first: the two rows stay adjacent
            self.expire_due(cu["key"])
            for g, gu, n, pr, req in ((f, u, amount, price, asked if asked != amount else None),
                                      (c, cu, charge, None, None)):
                limited = bool(s.plan) and g.enabled and not g.unlimited
                before = self.add_usage(s, g, gu["key"], n,
                                        self.grant_part(s, g, gu, n) if limited else 0)
                self.ledger(s.name, g, n, lk, key if g is f else None, gu, requested=req,
                            owner=self.owner(s, g), price=pr)
                if limited:
                    self.alert(g, gu["key"], before, before + n)
        if kind == "upto":
            return amount
        return self._result(kind, s, c, bool(s.plan) and c.enabled and not c.unlimited)

    def credit_read(self, s, f, units):
        """(limited, afford, denied) as credit.c's ent_credit_read()."""
        p = f.pricing
        rate = self.read_rate(p)
        c = self.feature(s, p["currency"])
        cu = self.usage(s, c) if s.plan and c.enabled else dict(used=0, from_grants=0, held=0,
                                                                  key=None)
        v = self.view(s, c, cu)
        limited, afford, denied = False, 0, False
        if not s.plan or not c.enabled:
            limited = True
        elif v["quota"] is not None and rate > 0 and not (c.soft and c.cap is None):
            limited = True
            afford = min(v["remaining"] * p["per"] * 1000000
                         // (rate * 10 ** self.currencies[p["currency"]]), MAXI)
        if units > 0 and not s.bypass:
            try:
                ch = self.charge(p, rate, units)
            except Err:
                ch = MAXI
            denied = self.denied(s, c, cu, ch)
        return limited, afford, denied

    def estimate(self, subject, name, amount, meta=None):
        """quota_estimate(): a dict as the JSON it returns."""
        if amount < 0:
            raise Err("error", "negative amount")
        s = self.resolve(subject)
        f = self.feature(s, name)
        if f.type not in ("metered", "rate"):
            raise Err("error", "not metered")
        o = dict(feature=name, amount=amount, currency=None, rate=None, dimension=None, cost=None)
        if f.type == "rate":
            allowed, rem, _n, _r = self.rate_eval(s, f, amount)
            has = bool(s.plan) and f.enabled and not f.unlimited
            fits = s.bypass or (bool(s.plan) and f.enabled and (f.unlimited or allowed))
            bal, cost = (rem if has else 0), amount
        elif not f.pricing:
            u = self.usage(s, f)
            v = self.view(s, f, u)
            has = v["quota"] is not None or not s.plan or not f.enabled
            fits = s.bypass or not self.denied(s, f, u, amount)
            bal, cost = v["remaining"], amount
        else:
            rate, text, dim = self.pick(f, meta)
            cost = self.charge(f.pricing, rate, amount)
            c = self.feature(s, f.pricing["currency"])
            u, cu = self.usage(s, f), self.usage(s, c)
            v = self.view(s, c, cu)
            has = v["quota"] is not None or not s.plan or not c.enabled
            fits = s.bypass or not (self.denied(s, f, u, amount) or self.denied(s, c, cu, cost))
            bal = v["remaining"]
            o.update(currency=c.name, rate=text, dimension=dim, cost=cost)
        o.update(fits=bool(fits), balance=bal if has else None,
                 balance_after=max(bal - cost, 0) if has and fits else None,
                 has_reason=not fits)
        return o

    def add_usage(self, s, f, key, amount, burn):
        """amount more used on the counter, burn of it from the active grants
        in burn-down order; returns used before."""
        c = self.counters.setdefault(key, [0, 0])
        before = c[0]
        c[0] += amount
        c[1] = max(0, min(c[1] + burn, c[0]))
        for g in self.active_grants(s, f):
            take = min(g["remaining"], burn)
            g["remaining"] -= take
            burn -= take
        return before

    def alert(self, f, key, before, after):
        if 0 < f.quota <= MAXI // 1000:
            for t in f.alerts:
                at = -(-t * f.quota // 100)
                if before < at <= after:
                    k = (key[0], f.name, f.period, key[3], t)
                    if not any(a[:5] == k for a in self.alerts):
                        self.alerts.add(k + (after, f.quota))

    def _result(self, kind, s, f, has_quota):
        if kind == "try":
            return 1
        if not has_quota:
            return None
        return self.available(s, f, self.usage(s, f))

    def _rate(self, kind, s, f, amount, key, found):
        n = 0 if kind == "refund" else amount
        allowed, rem, _new, _retry = self.rate_eval(s, f, n)
        if kind in ("consume", "try") and not found and not s.bypass and (
                not s.plan or not f.enabled or not allowed):
            raise Err("denied")
        has_remaining = bool(s.plan) and f.enabled and not f.unlimited
        lk = "refund" if kind == "refund" else ("record" if kind == "record" else "consume")
        if found or amount == 0:
            return 1 if kind == "try" else (rem if has_remaining else None)
        if f.unlimited:
            self.ledger(s.name, f, amount, lk, key, None)
            return 1 if kind == "try" else None
        now_us = self.now * 1000
        tat = self.rates.get((s.name, f.name))
        t = -(-f.rate_seconds * 1000000 // f.quota) if f.quota > 0 else 0
        if kind == "refund":
            if tat is None or tat <= now_us or t == 0 or amount > (tat - now_us) // t:
                new_tat = now_us
            else:
                new_tat = tat - amount * t
        else:
            new_tat = (max(tat, now_us) if tat is not None else now_us) + amount * t
        self.rates[(s.name, f.name)] = new_tat
        self.ledger(s.name, f, amount, lk, key, None)
        if kind == "try":
            return 1
        return self.rate_eval(s, f, 0)[1] if has_remaining else None

    def insert_events(self, rows, ignore):
        """INSERT [OR IGNORE] INTO usage_events(subject, feature, amount) VALUES
        ...: each row is a consume_quota. OR IGNORE skips a denied row; without
        it one denial undoes the whole statement. Returns changes()."""
        snap = self.snapshot()
        n = 0
        try:
            for subject, name, amount in rows:
                try:
                    self.write("consume", subject, name, amount)
                    n += 1
                except Err as e:
                    if not (ignore and e.kind == "denied"):
                        raise
            return n
        except Err:
            self.restore(snap)
            raise

    def grant(self, subject, name, amount, expires_at=None, key=None, priority=0, starts_at=None,
              category=None):
        snap = self.snapshot()
        try:
            if amount < 1:
                raise Err("error", "amount < 1")
            if category not in (None, "paid", "promotional"):
                raise Err("error", "category")
            starts = starts_at if starts_at is not None else fmt(self.now)
            if expires_at is not None and not expires_at > starts:
                raise Err("error", "expires before start")
            s = self.resolve(subject)
            f = self.feature(s, name)
            if f.type != "metered":
                raise Err("error", "grants are for metered features")
            owner = self.owner(s, f)
            if key is not None and self.replay(subject, key, name, "grant", amount) is not None:
                return next(g["id"] for g in self.grants if g["subject"] == owner and g["key"] == key)
            g = dict(id=self.next_grant, subject=owner, feature=name, amount=amount,
                     remaining=amount, priority=priority, starts_at=starts,
                     expires_at=expires_at, key=key, category=category or "paid", voided=None)
            self.next_grant += 1
            self.grants.append(g)
            self.ledger(subject, f, amount, "grant", key, None, owner=owner)
            return g["id"]
        except Err:
            self.restore(snap)
            raise

    def void(self, gid, reason=None):
        """grant_void: what is left of the grant stops counting; returns it."""
        g = next((g for g in self.grants if g["id"] == gid), None)
        if g is None:
            raise Err("error", "no such grant")
        if g["voided"] is not None:
            raise Err("error", "already voided")
        g["voided"] = fmt(self.now)
        self.events.append(dict(
            id=len(self.events) + 1, at=fmt(self.now), subject=g["subject"], feature=g["feature"],
            amount=g["remaining"], kind="void", key=None, period=None, period_start=None,
            requested=None, pool=None))
        return g["remaining"]

    def reset(self, subject, name=None):
        snap = self.snapshot()
        try:
            s = self.resolve(subject)
            names = [name] if name else [
                n for n, t in self.features.items()
                if t in ("metered", "rate") and s.plan and self.names(s.plan, n)]
            n = 0
            for fname in names:
                f = self.feature(s, fname)
                if f.type not in ("metered", "rate"):
                    raise Err("error", "not metered")
                if f.type == "rate":
                    if self.rates.pop((subject, fname), None) is not None:
                        n += 1
                        self.ledger(subject, f, 0, "reset", None, None)
                    continue
                u = self.usage(s, f)
                if u["used"] == 0:
                    continue
                self.counters[u["key"]] = [0, 0]
                n += 1
                self.ledger(subject, f, u["used"], "reset", None, u, owner=self.owner(s, f))
            return n
        except Err:
            self.restore(snap)
            raise

    # ---- holds (quota_reserve, quota_settle, quota_release, quota_extend) ----

    MODES = ("reject", "cap", "overflow")

    def hold_ledger(self, h, kind, amount, at=None, key=None):
        self.events.append(dict(
            id=len(self.events) + 1, at=at or max(fmt(self.now), h["created"]),
            subject=h["subject"],
            feature=h["feature"], amount=amount, kind=kind, key=key, period=h["period"],
            period_start=h["start"], requested=None,
            pool=h["counter"] if h["counter"] != h["subject"] else None,
            currency=None, charged=None, rate=None, dimension=None))

    def expire_due(self, key, everywhere=False):
        """A write reached this counter (everywhere: usage_purge, all of them,
        rate limits' holds too): its holds that expired by now are recorded
        as expired (a ledger row each, at the expiry), in the order they
        expire, then the order taken."""
        due = [h for h in self.holds.values() if (everywhere or h["ckey"] == key)
               and h["state"] == "held" and h["expires"] <= self.now]
        for h in sorted(due, key=lambda h: (h["expires"], h["n"])):
            h["state"], h["ended"] = "expired", fmt(h["expires"])
            self.hold_ledger(h, "expire", h["amount"], at=fmt(h["expires"]))

    def rate_move(self, s, f, n, check):
        """Takes n tokens (n > 0; check: a denial when they do not fit) or
        gives -n back (never more than a full bucket)."""
        if f.unlimited or n == 0:
            return
        now_us = self.now * 1000
        tat = self.rates.get((s.name, f.name))
        t = -(-f.rate_seconds * 1000000 // f.quota) if f.quota > 0 else 0
        if n > 0:
            if check and not s.bypass and not self.rate_eval(s, f, n)[0]:
                raise Err("denied", "rate")
            new = (max(tat, now_us) if tat is not None else now_us) + n * t
        elif tat is None or tat <= now_us or t == 0 or -n > (tat - now_us) // t:
            new = now_us
        else:
            new = tat + n * t
        self.rates[(s.name, f.name)] = new

    def reserve(self, subject, name, amount, ttl, key=None, meta=None):
        """quota_reserve: decided like consume_quota; the hold's id."""
        snap = self.snapshot()
        try:
            self.writing = True
            if amount < 1:
                raise Err("error", "amount < 1")
            if ttl <= 0:
                raise Err("error", "ttl")
            s = self.resolve(subject)
            f = self.feature(s, name)
            if f.type not in ("metered", "rate"):
                raise Err("error", "not metered")
            draws = None
            if f.pricing:  # the hold is on the currency, for what the units cost
                if not s.bypass and (not s.plan or not f.enabled):
                    raise Err("denied", "not in plan")
                if s.plan and f.enabled and not f.unlimited:
                    raise Err("error", "a priced feature with a limit of its own")
                rate, text, dim = self.pick(f, meta)
                charge = self.charge(f.pricing, rate, amount)
                draws = dict(draws=name, units=amount, rate=text, dimension=dim)
                f = self.feature(s, f.pricing["currency"])
                name, amount = f.name, charge
            if key is not None:
                row = self.replay(subject, key, name, "hold", amount)
                if row:
                    return row["hold"]
            if f.type == "rate":
                if not s.bypass and (not s.plan or not f.enabled):
                    raise Err("denied", "no plan")
                self.rate_move(s, f, amount, True)
                ckey, period, start, end = None, None, None, None
            else:
                u = self.usage(s, f)
                self.rollover_grants(s, f)
                self.expire_due(u["key"])
                if self.denied(s, f, u, amount):
                    raise Err("denied", "quota")
                ckey, period, start = u["key"], f.period, u["key"][3]
                self.counters.setdefault(ckey, [0, 0])  # the hold's counter row
            hid = f"m{self.next_hold}"
            h = dict(n=self.next_hold, id=hid, subject=subject, feature=name,
                     counter=self.owner(s, f), period=period, start=start, ckey=ckey,
                     amount=amount, state="held", expires=self.now + ttl * 1000, actual=None,
                     mode=None, ended=None, created=fmt(self.now), meta=meta,
                     **(draws or dict(draws=None, units=None, rate=None, dimension=None)))
            self.next_hold += 1
            self.holds[hid] = h
            self.hold_ledger(h, "hold", amount, key=key)
            self.events[-1]["hold"] = hid
            return hid
        except Err:
            self.restore(snap)
            raise
        finally:
            self.writing = False

    def live_hold(self, hid):
        h = self.holds.get(hid)
        if h is None:
            raise Err("error", "no such hold")
        if h["state"] == "settled":
            raise Err("error", "settled")
        if h["state"] == "released":
            raise Err("error", "released")
        if h["state"] == "expired" or h["expires"] <= self.now:
            raise Err("error", "expired")
        return h

    def hold_ctx(self, h, make=False):
        """The hold's subject and feature now, at the hold's counter (make:
        a settle, which makes the rollover grants in force)."""
        s = self.resolve(h["subject"])
        f = self.feature(s, h["feature"])
        if (h["period"] is not None) != (f.type == "metered") or (
                h["period"] is None and f.type != "rate"):
            raise Err("error", "feature changed type")
        u = None
        if h["period"] is not None:
            f.period, f.pool, s.pool_owner = h["period"], h["counter"] != h["subject"], h["counter"]
            u = self.counter_usage(h["ckey"])
            if make:
                self.writing = True
                try:
                    self.rollover_grants(s, f)
                finally:
                    self.writing = False
            self.expire_due(h["ckey"])
        return s, f, u

    def settle_result(self, h, s, f):
        if h["period"] is None:
            live = s.plan and f.enabled and not f.unlimited
            return self.rate_eval(s, f, 0)[1] if live else None
        if not s.plan or not f.enabled or f.unlimited:
            return None
        return self.available(s, f, self.counter_usage(h["ckey"]))

    def settle(self, hid, actual, mode="overflow"):
        snap = self.snapshot()
        try:
            if actual < 0:
                raise Err("error", "negative actual")
            if mode not in self.MODES:
                raise Err("error", "mode")
            h = self.holds.get(hid)
            if h is not None and h["state"] == "settled" and h["actual"] == actual and (
                    h["mode"] == mode):
                s, f, _u = self.hold_ctx(h)  # a retry: the same answer again
                return self.settle_result(h, s, f)
            h = self.live_hold(hid)
            s, f, u = self.hold_ctx(h, make=True)
            units = actual
            if h["draws"] is not None:  # actual units, settled in what they cost
                if f.decimals is None:
                    raise Err("error", "no longer a currency")
                rate, per = h["rate"].partition("/")[0], h["rate"].partition("/")[2] or "1"
                actual = self.charge(dict(currency=f.name, per=int(per)), self.micros(rate),
                                     units)
            within = min(actual, h["amount"])
            over = actual - within
            if over > 0 and mode == "reject":
                raise Err("denied", "reject")
            burn = 0
            if u is not None:
                u["held"] -= h["amount"]
                if over > 0 and mode == "overflow" and not s.bypass and self.denied(s, f, u, actual):
                    raise Err("denied", "overflow")
                if s.plan and f.enabled and not f.unlimited:
                    burn = self.grant_part(s, f, u, actual)
            else:
                self.rate_move(s, f, over if over > 0 else within - h["amount"],
                               over > 0 and mode == "overflow")
            h.update(state="settled", actual=units, mode=mode, ended=fmt(self.now))
            before = self.add_usage(s, f, u["key"], actual, burn) if u is not None else None
            self.hold_ledger(h, "release", h["amount"])
            if h["draws"] is not None and units > 0:
                self.settle_units(h, s, units, actual)
            if (actual if mode != "cap" else within) > 0:
                self.hold_ledger(h, "consume", actual if mode != "cap" else within)
            if mode == "cap" and over > 0:
                self.hold_ledger(h, "record", over)
            if u is not None and s.plan and f.enabled and not f.unlimited:
                self.alert(f, u["key"], before, before + actual)
            return self.settle_result(h, s, f)
        except Err:
            self.restore(snap)
            raise

    def settle_units(self, h, s, units, charged):
        """A priced hold's units: counted on the feature in the period the
        hold was taken in, with its ledger row before the currency's."""
        g = self.feature(s, h["draws"])
        if g.type != "metered":
            raise Err("error", "feature changed type")
        start, _end = period_bounds(g.period, s.anchor, parse(h["created"]))
        key = (self.owner(s, g), g.name, g.period, fmt(start) if start is not None else "")
        self.add_usage(s, g, key, units, 0)
        self.events.append(dict(
            id=len(self.events) + 1, at=max(fmt(self.now), h["created"]), subject=h["subject"],
            feature=g.name, amount=units, kind="consume", key=None, period=g.period,
            period_start=key[3], requested=None,
            pool=key[0] if key[0] != h["subject"] else None, currency=h["feature"],
            charged=charged, rate=h["rate"], dimension=h["dimension"], hold=h["id"]))

    def release(self, hid):
        snap = self.snapshot()
        try:
            h = self.live_hold(hid)
            s, f, _u = self.hold_ctx(h)
            h.update(state="released", ended=fmt(self.now))
            if h["period"] is None:
                self.rate_move(s, f, -h["amount"], False)
            self.hold_ledger(h, "release", h["amount"])
            return h["amount"]
        except Err:
            self.restore(snap)
            raise

    def extend(self, hid, ttl):
        snap = self.snapshot()
        try:
            h = self.live_hold(hid)
            if ttl <= 0:
                raise Err("error", "ttl")
            self.hold_ctx(h)
            h["expires"] = self.now + ttl * 1000
            return fmt(h["expires"])
        except Err:
            self.restore(snap)
            raise

    def purge(self, before):
        """usage_purge(before): every expired hold recorded as such (all
        counters, rate limits' too), then ledger rows before it, and ended holds."""
        self.expire_due(None, everywhere=True)
        kept = [e for e in self.events if e["at"] >= before]
        n = len(self.events) - len(kept)
        self.events = kept
        ended = [i for i, h in self.holds.items() if h["state"] != "held" and h["ended"] < before]
        for i in ended:
            del self.holds[i]
        return n + len(ended)

    # ---- reads ------------------------------------------------------------

    def plan_allows(self, subject, name, n=1):
        s = self.resolve(subject)
        f = self.feature(s, name)
        if s.bypass:
            return 1
        if f.type == "metered":
            if self.denied(s, f, self.usage(s, f), n):
                return 0
            if f.pricing and n > 0 and self.credit_read(s, f, n)[2]:
                return 0  # its currency must admit the charge too
            return 1
        if not s.plan or not f.enabled:
            return 0
        if f.type == "rate":
            return 1 if self.rate_eval(s, f, n)[0] else 0
        if f.type == "config":
            v = f.value
            truthy = v not in (False, 0, "", None, [], {})
            return 1 if truthy else 0
        return 1

    def quota_remaining(self, subject, name):
        s = self.resolve(subject)
        f = self.feature(s, name)
        if f.type == "rate":
            if not s.plan or not f.enabled:
                return 0
            return None if f.unlimited else self.rate_eval(s, f, 0)[1]
        if f.type != "metered":
            raise Err("error", "not metered")
        v = self.view(s, f, self.usage(s, f))
        unlimited = bool(s.plan) and f.enabled and f.unlimited
        remaining = v["remaining"]
        if f.pricing and s.plan and f.enabled:  # no more than the currency affords
            limited, afford, _d = self.credit_read(s, f, 0)
            if limited and (unlimited or afford < remaining):
                remaining = afford
            if limited:
                unlimited = False
        return None if unlimited else remaining

    def entitlement(self, subject, name, s=None):
        s = s or self.resolve(subject)
        f = self.feature(s, name)
        access = self.plan_allows(subject, name)
        live = bool(s.plan) and f.enabled
        o = dict(feature=name, type=f.type, plan=s.plan, has_access=bool(access))
        if f.type == "metered":
            u = self.usage(s, f)
            v = self.view(s, f, u)
            priced = False
            if live and f.pricing:
                limited, afford, _d = self.credit_read(s, f, 0)
                if limited and (v["quota"] is None or afford < v["remaining"]):
                    v["remaining"] = afford
                priced = limited
            o.update(quota=v["quota"], used=u["used"] if live else 0,
                     held=u["held"] if live else 0, granted=v["granted"],
                     remaining=v["remaining"] if (v["quota"] is not None or not live or priced)
                     else None,
                     overage=v["overage"], cost=v["cost"],
                     period=f.period if live else None,
                     period_start=fmt(u["start"]) if live and u["start"] is not None else None,
                     period_end=fmt(u["end"]) if live and u["end"] is not None else None,
                     soft=bool(f.soft), value=None)
            retry = None
        elif f.type == "rate":
            limited = live and not f.unlimited
            allowed, rem, _n, retry_us = self.rate_eval(s, f, 1) if limited else (1, 0, 0, -1)
            o.update(quota=f.burst if limited else (None if live else 0),
                     used=f.burst - rem if limited else 0, held=None, granted=0,
                     remaining=rem if limited else (None if live else 0), overage=0, cost=None,
                     period=f.rate_period if live else None, period_start=None, period_end=None,
                     soft=False, value=None)
            retry = None
            if limited and not access and retry_us >= 0:
                retry = -(-retry_us // 1000) / 1000
        else:
            o.update(quota=None, used=None, held=None, granted=None, remaining=None, overage=None,
                     cost=None, period=None, period_start=None, period_end=None, soft=None)
            if f.type == "boolean":
                o["value"] = bool(s.plan and f.enabled)
            else:
                o["value"] = f.value if live else None
            retry = None
        o["has_reason"] = not access
        o["retry_after"] = retry
        if f.pricing:
            o["currency"] = f.pricing["currency"]
            if "rate" in f.pricing:
                o["rate"] = self.rate_text(dict(per=1), f.pricing["rate"])
            else:
                o["rate_by"] = f.pricing["by"]
            o["per"] = f.pricing["per"]
        elif f.decimals is not None:
            o["decimals"] = f.decimals
        return o

    def entitlements(self, subject):
        s = self.resolve(subject)
        out = {}
        if not s.plan:
            return out
        for name in self.features:
            if not self.names(s.plan, name) and not s.ovr:
                continue
            f = self.feature(s, name)
            if not f.found:
                continue
            out[name] = self.entitlement(subject, name, s)
        return out

    def usage_summary(self, subject):
        s = self.resolve(subject)
        rows = []
        if not s.plan:
            return rows
        for name, ftype in self.features.items():
            if ftype not in ("metered", "rate"):
                continue
            if not self.names(s.plan, name) and not s.ovr:
                continue
            f = self.feature(s, name)
            if not f.found:
                continue
            if ftype == "rate":
                if not f.enabled:
                    rows.append((subject, name, s.plan, "rate", None, None, None, 0, 0, 0, 0,
                                 None, 0, None, 0, "disabled", None))
                elif f.unlimited:
                    rows.append((subject, name, s.plan, "rate", f.rate_period, None, None, 0, None,
                                 0, None, None, 0, None, 0, "unlimited", None))
                else:
                    rem = self.rate_eval(s, f, 0)[1]
                    used = f.burst - rem
                    status = ("exhausted" if rem == 0 else
                              "warning" if used * 5 >= f.burst * 4 else "ok")
                    rows.append((subject, name, s.plan, "rate", f.rate_period, None, None, used,
                                 f.burst, 0, rem, 100.0 * used / f.burst, 0, None, 0, status, None))
                continue
            u = self.usage(s, f) if f.enabled else dict(used=0, from_grants=0, start=None,
                                                        end=None, key=None, held=0)
            v = self.view(s, f, u) if f.enabled else self.view(s, f, u)
            disabled = v["status"] == "disabled"
            rows.append((
                subject, name, s.plan, "metered", None if disabled else f.period,
                fmt(u["start"]) if f.enabled and u["start"] is not None else None,
                fmt(u["end"]) if f.enabled and u["end"] is not None else None,
                u["used"], 0 if disabled else v["quota"], v["granted"],
                0 if disabled else v["remaining"], v["percent"], v["overage"], v["cost"],
                int(bool(f.soft)), v["status"], u["held"]))
        return rows

    def check(self):
        """entitlements_check(): the model keeps counters = ledger, so only
        parent cycles can be reported."""
        cycles = []
        for start in sorted(self.subjects):
            cur, depth = self.subjects[start]["parent"], 1
            while cur is not None and cur != start and depth < 1000:
                row = self.subjects.get(cur)
                cur = row["parent"] if row else None
                depth += 1
            if cur == start:
                cycles.append(start)
        return "ok" if not cycles else [{"problem": "parent_cycle", "subject": c} for c in cycles]
