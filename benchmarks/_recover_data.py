"""Seeded Handelsregister-like frame and messy queries for the fuzzy-recovery tests and benchmark.

Owned by the fuzzy-recovery work (tests/test_recover*.py and benchmarks/bench_recover.py load it
by path). Everything is synthetic: invented names from a small vocabulary, Dutch-looking
postcodes (``1234 AB``), streets and cities. The register has several establishments per KVK
number for some firms, common trade names repeated across towns, and several firms per
postcode; the queries carry the kinds of errors clerks and web forms make (case, dropped or
respelled legal forms, typos, abbreviations, missing fields, reformatted postcodes and house
number additions). A share of queries belongs to firms that are *not* in the register.
"""

from __future__ import annotations

import numpy as np
import polars as pl

SURNAMES = (
    "de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder", "de Groot",
    "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer", "de Wit", "Dijkstra",
    "Smits", "de Graaf", "van der Meer", "van der Linden", "Kok", "Jacobs", "de Haan",
    "Vermeulen", "van den Berg", "van der Heijden", "van der Veen", "van den Broek", "de Bruijn",
    "de Jong", "Schouten", "van Beek", "Willems", "van Dijk", "Janssen", "Hoekstra", "Maas",
    "Verhoeven", "Koster", "Prins", "Blom", "Huisman", "Peeters", "Kuipers", "van Vliet",
    "Postma", "Kramer", "van Wijk", "Kuiper", "Vink", "Hermans", "van Dam", "Evers", "Wouters",
    "Gerritsen", "Bosman", "Claassen", "Ruiter", "Sanders", "Scholten", "Groen", "Willemsen",
    "Jonker", "Veenstra", "Koch", "Timmermans", "Verbeek", "Lammers", "Wolters", "Molenaar",
    "Çelik", "Yılmaz", "Öztürk", "El Amrani", "Müller", "Lefèvre", "Nguyen", "Kowalski",
)
TRADES = (
    "Bakkerij", "Bouwbedrijf", "Installatietechniek", "Schildersbedrijf", "Advies",
    "Consultancy", "Transport", "Kapsalon", "Fietsenmaker", "Hoveniersbedrijf",
    "Loodgietersbedrijf", "Administratiekantoor", "Autobedrijf", "Timmerwerken",
    "Dakdekkersbedrijf", "Webdesign", "Fotografie", "Catering", "Schoonmaakbedrijf",
    "Makelaardij", "Tandartspraktijk", "Fysiotherapie", "Restaurant", "Café", "Bloemenwinkel",
    "Slagerij", "Groentehandel", "Drukkerij", "Elektrotechniek", "Metaalbewerking", "Machinebouw",
    "Coaching", "Marketing", "Design", "Media", "Evenementen", "Vastgoed", "Beheer", "Verhuur",
    "Klussenbedrijf", "Rijschool", "Juwelier", "Opticien", "Kinderopvang", "Accountants",
    "Software", "Logistiek", "Handelsonderneming", "Tegelzetter", "Stukadoorsbedrijf",
)
SYLL_A = ("Vel", "Nor", "Zen", "Tri", "Bra", "Kro", "Lu", "Mar", "Ost", "Pol", "Quin", "Ros",
          "Sol", "Ter", "Ul", "Var", "Wes", "Xan", "Yor", "Zet", "Ami", "Bel", "Cor", "Dra")
SYLL_B = ("tro", "va", "li", "mo", "ra", "ne", "co", "ta", "si", "de", "ga", "po", "ri", "lo")
SYLL_C = ("nix", "tec", "lux", "ware", "plan", "form", "line", "point", "vision", "group",
          "works", "tronics", "land", "hof", "zicht", "kracht", "stroom", "veld")
STREET_STEMS = (
    "Kerk", "Dorps", "Molen", "School", "Wilhelmina", "Juliana", "Beatrix", "Oranje", "Hoofd",
    "Stations", "Nieuwe", "Oude", "Haven", "Markt", "Linden", "Eiken", "Beuken", "Berken",
    "Prins Hendrik", "Emma", "Parallel", "Industrie", "Ambachts", "Handels", "Zuid", "Noord",
    "Oost", "West", "Rozen", "Tulpen", "Vondel", "Rembrandt", "Vermeer", "Spoor", "Kanaal",
    "Burgemeester de Wit", "Dokter Zamenhof", "Koning", "Koningin", "Graaf Willem",
)
STREET_SUFFIX = ("straat", "weg", "laan", "plein", "gracht", "kade", "dijk", "singel", "hof",
                 "pad")
CITIES = (
    "Amsterdam", "Rotterdam", "Den Haag", "Utrecht", "Eindhoven", "Groningen", "Tilburg",
    "Almere", "Breda", "Nijmegen", "Apeldoorn", "Haarlem", "Arnhem", "Enschede", "Amersfoort",
    "Zaanstad", "Den Bosch", "Haarlemmermeer", "Zwolle", "Zoetermeer", "Leiden", "Maastricht",
    "Dordrecht", "Ede", "Alphen aan den Rijn", "Leeuwarden", "Alkmaar", "Emmen", "Westland",
    "Delft", "Venlo", "Deventer", "Sittard", "Helmond", "Oss", "Amstelveen", "Hilversum",
    "Sudwest-Fryslân", "Heerlen", "Hengelo", "Purmerend", "Roosendaal", "Schiedam", "Lelystad",
    "Leidschendam", "Almelo", "Hoorn", "Gouda", "Vlaardingen", "Assen", "Súdwest", "Bergen op Zoom",
    "Capelle aan den IJssel", "Veenendaal", "Katwijk", "Zeist", "Nieuwegein", "Roermond",
    "Den Helder", "Doetinchem", "Hoogeveen", "Terneuzen", "Kampen", "Woerden", "Heerenveen",
)
LEGAL_FORMS = ("", " B.V.", " Holding B.V.", " V.O.F.", " N.V.", "STICHTING", " C.V.")
LEGAL_P = (0.58, 0.22, 0.05, 0.09, 0.01, 0.03, 0.02)
LETTERS = np.array(list("ABCEGHJKLMNPRTVWXZ"))


def _pick(rng: np.random.Generator, items: tuple[str, ...], n: int) -> np.ndarray:
    return np.asarray(items, dtype=object)[rng.integers(0, len(items), n)]


def make_firms(n: int, seed: int = 0) -> pl.DataFrame:
    """``n`` firms (one row per establishment; ~8% of firms have 2–3 establishments)."""
    rng = np.random.default_rng(seed)
    kvk = rng.choice(100_000_000, size=n, replace=False)
    surname = _pick(rng, SURNAMES, n)
    trade = _pick(rng, TRADES, n)
    brand = (_pick(rng, SYLL_A, n) + _pick(rng, SYLL_B, n) + _pick(rng, SYLL_C, n)).astype(object)
    pattern = rng.choice(5, size=n, p=[0.35, 0.2, 0.2, 0.15, 0.1])
    initials = np.asarray([f"{c}." for c in "ABCDEFGHJKLMNPRSTW"], dtype=object)[
        rng.integers(0, 18, n)
    ]
    name = np.where(
        pattern == 0, trade + " " + surname,
        np.where(pattern == 1, surname + " " + trade,
                 np.where(pattern == 2, brand,
                          np.where(pattern == 3, brand + " " + trade,
                                   initials + " " + surname + " " + trade))),
    )
    form = np.asarray(LEGAL_FORMS, dtype=object)[rng.choice(len(LEGAL_FORMS), size=n, p=LEGAL_P)]
    name = np.where(form == "STICHTING", "Stichting " + name, name + np.where(
        form == "STICHTING", "", form))
    # establishments: most firms one, some 2-3 at other addresses
    n_est = rng.choice([1, 2, 3], size=n, p=[0.92, 0.06, 0.02])
    firm_idx = np.repeat(np.arange(n), n_est)
    m = firm_idx.size
    # postcode units: ~1 per 5 establishments, each a street segment in one city
    n_units = max(1, m // 5)
    unit_city = rng.integers(0, len(CITIES), n_units)
    unit_pc4 = 1000 + (unit_city * 130 + rng.integers(0, 130, n_units)) % 9000
    unit_letters = LETTERS[rng.integers(0, len(LETTERS), n_units)].astype(object) + LETTERS[
        rng.integers(0, len(LETTERS), n_units)
    ].astype(object)
    unit_pc = np.char.add(unit_pc4.astype(str), " ").astype(object) + unit_letters
    unit_street = (_pick(rng, STREET_STEMS, n_units) + _pick(rng, STREET_SUFFIX, n_units))
    unit_base = rng.integers(1, 180, n_units)
    unit = rng.integers(0, n_units, m)
    number = unit_base[unit] + rng.integers(0, 20, m)
    add_kind = rng.choice(4, size=m, p=[0.82, 0.1, 0.05, 0.03])
    addition = np.where(
        add_kind == 1, LETTERS[rng.integers(0, 4, m)].astype(object),
        np.where(add_kind == 2, "-" + rng.integers(1, 4, m).astype(str).astype(object),
                 np.where(add_kind == 3, " bis", "")),
    )
    house = number.astype(str).astype(object) + addition
    vest = rng.choice(1_000_000_000_000, size=m, replace=False)
    return pl.DataFrame({
        "kvk_nummer": [f"{k:08d}" for k in kvk[firm_idx]],
        "vestigingsnummer": [f"{v:012d}" for v in vest],
        "trade_name": name[firm_idx].tolist(),
        "street": unit_street[unit].tolist(),
        "house_number": house.tolist(),
        "postcode": unit_pc[unit].tolist(),
        "city": np.asarray(CITIES, dtype=object)[unit_city[unit]].tolist(),
    })


def _typo(s: str, rng: np.random.Generator) -> str:
    if len(s) < 3:
        return s
    i = int(rng.integers(1, len(s) - 1))
    k = int(rng.integers(0, 4))
    c = "abcdefghijklmnoprstuvwz"[int(rng.integers(0, 23))]
    if k == 0:
        return s[:i] + c + s[i + 1:]
    if k == 1:
        return s[:i] + s[i + 1:]
    if k == 2:
        return s[:i] + c + s[i:]
    return s[: i - 1] + s[i] + s[i - 1] + s[i + 1:]


def _mess_name(name: str, rng: np.random.Generator) -> str:
    u = rng.random(8)
    if u[0] < 0.5:
        for form in (" Holding B.V.", " B.V.", " V.O.F.", " N.V.", " C.V."):
            if name.endswith(form):
                name = name[: -len(form)] if u[1] < 0.6 else name[: -len(form)] + " " + (
                    form.replace(".", "").strip().lower() if u[2] < 0.5 else form.strip()
                    .replace(".", ""))
                break
    if u[3] < 0.25:
        name = _typo(name, rng)
    if u[4] < 0.05:
        name = _typo(name, rng)
    if u[5] < 0.3:
        name = name.lower() if u[6] < 0.7 else name.upper()
    if u[7] < 0.05:
        words = name.split(" ")
        if len(words) >= 3:
            del words[int(rng.integers(0, len(words)))]
            name = " ".join(words)
    return name


def _mess_postcode(pc: str, rng: np.random.Generator) -> str | None:
    u = rng.random(4)
    if u[0] < 0.04:
        return None
    if u[1] < 0.05:
        digits, letters = pc[:4], pc[5:]
        if u[2] < 0.5:
            j = int(rng.integers(0, 4))
            digits = digits[:j] + str((int(digits[j]) + 1) % 10) + digits[j + 1:]
        else:
            letters = letters[0] + str(LETTERS[int(rng.integers(0, len(LETTERS)))])
        pc = digits + " " + letters
    if u[3] < 0.5:
        pc = pc.replace(" ", "")
    elif u[3] < 0.7:
        pc = pc.lower()
    return pc


def _mess_house(h: str, rng: np.random.Generator) -> str | None:
    u = rng.random(3)
    if u[0] < 0.03:
        return None
    if u[1] < 0.03:
        return str(int("".join(ch for ch in h if ch.isdigit())[:3] or "1") + 2)
    if u[2] < 0.3:
        h = h.replace("-", " ").lower() if u[2] < 0.15 else h.replace(" bis", "bis")
    elif u[2] < 0.4:
        h = "".join(ch for ch in h if ch.isdigit() or ch == "-").split("-")[0]
    return h


def _mess_street(s: str, rng: np.random.Generator) -> str | None:
    u = rng.random(3)
    if u[0] < 0.08:
        return None
    if u[1] < 0.15:
        s = s.replace("straat", "str.").replace("laan", "ln")
    if u[2] < 0.1:
        s = _typo(s, rng)
    return s


def _mess_city(c: str, rng: np.random.Generator) -> str | None:
    u = rng.random(3)
    if u[0] < 0.15:
        return None
    if u[1] < 0.3:
        c = c.lower()
    if u[2] < 0.05:
        c = _typo(c, rng)
    return c


def mess_records(records: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Messy query columns from register-like ``records`` (``trade_name, street, ...``)."""
    q: dict[str, list[str | None]] = {
        "company_name": [], "street": [], "house_number": [], "postcode": [], "city": []
    }
    for row in records.select("trade_name", "street", "house_number", "postcode", "city").rows():
        name, street, house, pc, city = row
        q["company_name"].append(_mess_name(name, rng))
        q["street"].append(_mess_street(street, rng) if street is not None else None)
        q["house_number"].append(_mess_house(house, rng) if house is not None else None)
        q["postcode"].append(_mess_postcode(pc, rng) if pc is not None else None)
        q["city"].append(_mess_city(city, rng) if city is not None else None)
    return pl.DataFrame(q, schema=dict.fromkeys(q, pl.Utf8))


def make_recovery_data(
    n_register: int = 20_000,
    n_queries: int = 2_000,
    n_unmatched: int = 200,
    seed: int = 0,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Return ``(register, queries, truth)``.

    ``register``: Handelsregister-like rows for ``n_register`` firms. ``queries``: columns
    ``interaction_id, company_name, street, house_number, postcode, city``; the first
    ``n_queries`` sampled from register establishments, ``n_unmatched`` from firms left out
    of the register, shuffled. ``truth``: ``interaction_id, true_kvk_nummer`` (null = no match).
    """
    rng = np.random.default_rng(seed + 1)
    firms = make_firms(n_register + n_unmatched, seed=seed)
    kvks = firms["kvk_nummer"].unique(maintain_order=True)
    outside = set(kvks.sample(n_unmatched, seed=seed, shuffle=True).to_list()) if n_unmatched \
        else set()
    is_out = firms["kvk_nummer"].is_in(list(outside))
    register = firms.filter(~is_out)
    out_rows = firms.filter(is_out).unique("kvk_nummer", keep="first", maintain_order=True)
    picked = register.sample(n_queries, seed=seed, shuffle=True)
    src = pl.concat([picked, out_rows.head(n_unmatched)])
    rows = src.rows(named=True)
    messy = mess_records(src, rng)
    q = {k: messy[k].to_list() for k in messy.columns}
    n = len(rows)
    true_kvk = [r["kvk_nummer"] for r in rows[:n_queries]] + [None] * (n - n_queries)
    order = rng.permutation(n)
    ids = [f"Q{i:07d}" for i in range(n)]
    queries = pl.DataFrame(
        {"interaction_id": ids, **{k: [v[i] for i in order] for k, v in q.items()}},
        schema={"interaction_id": pl.Utf8, "company_name": pl.Utf8, "street": pl.Utf8,
                "house_number": pl.Utf8, "postcode": pl.Utf8, "city": pl.Utf8},
    )
    truth = pl.DataFrame(
        {"interaction_id": ids, "true_kvk_nummer": [true_kvk[i] for i in order]},
        schema={"interaction_id": pl.Utf8, "true_kvk_nummer": pl.Utf8},
    )
    return register, queries, truth
