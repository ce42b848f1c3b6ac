"""Configuration tables of the synthetic register (calibrated to docs/domain.md §3–§4).

Everything here is *configuration*, not a fact about real firms. Where the public sources give
no number (provinces other than Zuid- and Noord-Holland, the split of O–Q and R–U, the SBI codes
within a section, the statutory task of each activity) the value is a labelled synthetic prior.

Examples
--------
>>> from kvklink.synth._config import PROVINCE_SHARES, PROVINCE_REGION
>>> round(sum(PROVINCE_SHARES.values()), 6)
1.0
>>> PROVINCE_REGION["PV27"]
'West'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ACTIVITIES",
    "ALL_SECTIONS",
    "BANDS",
    "CBS_SIZE_CLASSES",
    "FIRST_YEAR",
    "INTERACTION_FIRST_YEAR",
    "INTERACTION_LAST_YEAR",
    "KVK_SIZE_CLASSES",
    "LAST_YEAR",
    "LEGAL_FORMS",
    "LEGAL_FORM_BY_SIZE",
    "MUNICIPALITIES",
    "PROVINCE_REGION",
    "PROVINCE_SHARES",
    "REGIONS",
    "SBI_BY_SECTION",
    "SECTION_SHARES",
    "SECTION_WORDS",
    "SIZE_CLASSES",
    "Activity",
    "Municipality",
    "SizeClass",
]

FIRST_YEAR = 2015
LAST_YEAR = 2024
INTERACTION_FIRST_YEAR = 2017
INTERACTION_LAST_YEAR = 2023


@dataclass(frozen=True)
class SizeClass:
    """One persons-employed class of domain.md §3.

    ``share`` is the population share (the calibration target for the 2024 stock);
    ``entry_share`` the share drawn at entry, calibrated once so that after growth and rounding
    the 2024 stock matches ``share`` (firms drift from class 2 to 3–4 as they grow).
    """

    label: str
    low: int
    high: int
    share: float
    entry_share: float


#: Persons employed (CBS 2025 Q1, domain.md §3). ``high`` of the last class bounds the Pareto tail.
SIZE_CLASSES: tuple[SizeClass, ...] = (
    SizeClass("1", 1, 1, 0.821, 0.8188),
    SizeClass("2", 2, 2, 0.082, 0.0918),
    SizeClass("3-4", 3, 4, 0.039, 0.0359),
    SizeClass("5-9", 5, 9, 0.028, 0.0261),
    SizeClass("10-19", 10, 19, 0.015, 0.0133),
    SizeClass("20-49", 20, 49, 0.009, 0.0080),
    SizeClass("50-99", 50, 99, 0.003, 0.0024),
    SizeClass(">=100", 100, 20000, 0.004, 0.0037),
)

#: KVK size-class codes: (code, lower bound of persons employed). 01 = 0 persons.
#: Codes above 09 are a synthetic extension (the sources list only up to 09 = 200–499).
KVK_SIZE_CLASSES: tuple[tuple[str, int], ...] = (
    ("01", 0),
    ("02", 1),
    ("03", 2),
    ("04", 5),
    ("05", 10),
    ("06", 20),
    ("07", 50),
    ("08", 100),
    ("09", 200),
    ("10", 500),
    ("11", 1000),
)

#: CBS size classes (label, lower bound). Labels follow domain.md §3 (1, 2, 3–4, 5–9, 10–19, …).
CBS_SIZE_CLASSES: tuple[tuple[str, int], ...] = (
    ("1", 1),
    ("2", 2),
    ("3-4", 3),
    ("5-9", 5),
    ("10-19", 10),
    ("20-49", 20),
    ("50-99", 50),
    ("100-199", 100),
    ("200-499", 200),
    ("500+", 500),
)

#: Common bands used for matching (domain.md §3): (label, lower bound).
BANDS: tuple[tuple[str, int], ...] = (
    ("0-1", 0),
    ("2-9", 2),
    ("10-49", 10),
    ("50-249", 50),
    ("250+", 250),
)

#: SBI sections, shares of businesses (2024 Q2). O–Q and R–U are split by a synthetic prior:
#: O ≈ 900 units, P 4.5%, Q the rest of 16.1%; R 4.2%, S 7.2%, T and U tiny.
SECTION_SHARES: dict[str, float] = {
    "A": 0.034,
    "B": 0.0005,
    "C": 0.037,
    "D": 0.001,
    "E": 0.001,
    "F": 0.116,
    "G": 0.126,
    "H": 0.029,
    "I": 0.034,
    "J": 0.054,
    "K": 0.017,
    "L": 0.016,
    "M": 0.203,
    "N": 0.055,
    "O": 0.0004,
    "P": 0.045,
    "Q": 0.1156,
    "R": 0.042,
    "S": 0.0716,
    "T": 0.0008,
    "U": 0.0001,
}
_total = sum(SECTION_SHARES.values())
SECTION_SHARES = {k: v / _total for k, v in SECTION_SHARES.items()}
ALL_SECTIONS: tuple[str, ...] = tuple(SECTION_SHARES)

#: A small plausible set of SBI 2008 five-digit codes per section (first four digits = NACE Rev.2),
#: with relative weights. Synthetic: real within-section distributions are not in our sources.
SBI_BY_SECTION: dict[str, tuple[tuple[str, float], ...]] = {
    "A": (("01131", 2), ("01191", 2), ("01410", 3), ("01500", 2), ("01610", 1), ("02100", 1)),
    "B": (("06100", 1), ("08120", 2), ("09100", 1)),
    "C": (
        ("10711", 3),
        ("16230", 2),
        ("18121", 2),
        ("25110", 2),
        ("25620", 3),
        ("28290", 1),
        ("31091", 2),
        ("33120", 2),
    ),
    "D": (("35111", 1), ("35113", 3), ("35300", 1)),
    "E": (("36000", 1), ("38110", 2), ("38320", 2)),
    "F": (
        ("41200", 3),
        ("42110", 1),
        ("43210", 3),
        ("43221", 2),
        ("43222", 2),
        ("43310", 2),
        ("43341", 3),
        ("43911", 1),
        ("43999", 3),
    ),
    "G": (
        ("45111", 1),
        ("45201", 2),
        ("46190", 2),
        ("46900", 2),
        ("47190", 2),
        ("47710", 2),
        ("47781", 1),
        ("47910", 4),
    ),
    "H": (("49410", 4), ("49320", 3), ("52291", 1), ("53202", 2)),
    "I": (("55101", 2), ("56101", 4), ("56102", 2), ("56210", 2), ("56301", 2)),
    "J": (
        ("58110", 1),
        ("59111", 2),
        ("62010", 4),
        ("62020", 3),
        ("62090", 2),
        ("63110", 1),
        ("63120", 1),
    ),
    "K": (("64191", 1), ("64303", 3), ("66191", 2), ("66220", 2)),
    "L": (("68201", 3), ("68204", 2), ("68311", 2)),
    "M": (
        ("69101", 1),
        ("69201", 2),
        ("70221", 5),
        ("70222", 2),
        ("71111", 2),
        ("71121", 2),
        ("72190", 1),
        ("73111", 2),
        ("74101", 3),
        ("74201", 2),
        ("74901", 2),
    ),
    "N": (("77110", 1), ("78201", 2), ("81210", 3), ("82110", 2), ("82990", 3)),
    "O": (("84110", 2), ("84240", 1)),
    "P": (("85311", 1), ("85592", 3), ("85599", 3), ("85600", 2)),
    "Q": (
        ("86221", 1),
        ("86911", 2),
        ("86912", 2),
        ("86921", 3),
        ("86923", 2),
        ("87301", 1),
        ("88101", 2),
    ),
    "R": (("90011", 3), ("90020", 2), ("93130", 2), ("93140", 1)),
    "S": (("94991", 2), ("95110", 1), ("96021", 3), ("96022", 3), ("96040", 2), ("96090", 3)),
    "T": (("97000", 1),),
    "U": (("99000", 1),),
}

#: Words used in trade names per section (synthetic).
SECTION_WORDS: dict[str, tuple[str, ...]] = {
    "A": ("Agrarisch Bedrijf", "Melkveehouderij", "Kwekerij", "Tuinderij", "Hoeve"),
    "B": ("Zand en Grind", "Delfstoffen"),
    "C": ("Metaal", "Bakkerij", "Productie", "Machinebouw", "Drukkerij", "Meubelmakerij"),
    "D": ("Energie", "Zonnepark", "Warmte"),
    "E": ("Recycling", "Afvalbeheer", "Water"),
    "F": (
        "Bouw",
        "Bouwbedrijf",
        "Installatietechniek",
        "Schildersbedrijf",
        "Klusbedrijf",
        "Timmerwerken",
        "Dakwerken",
    ),
    "G": ("Handel", "Groothandel", "Webshop", "Trading", "Autobedrijf", "Mode"),
    "H": ("Transport", "Logistiek", "Koeriersdienst", "Taxi"),
    "I": ("Catering", "Eetcafe", "Restaurant", "Lunchroom", "Hotel"),
    "J": ("IT", "Software", "Media", "Digital", "Development", "Solutions"),
    "K": ("Financieel Advies", "Verzekeringen", "Beleggingen"),
    "L": ("Vastgoed", "Beheer", "Makelaardij"),
    "M": (
        "Advies",
        "Consultancy",
        "Architecten",
        "Ontwerp",
        "Administratie",
        "Fotografie",
        "Communicatie",
        "Interim Management",
    ),
    "N": ("Schoonmaak", "Uitzendbureau", "Services", "Verhuur", "Beveiliging"),
    "O": ("Overheidsdienst",),
    "P": ("Training", "Onderwijs", "Coaching", "Bijles", "Rijschool"),
    "Q": ("Zorg", "Praktijk", "Fysiotherapie", "Thuiszorg", "Kinderopvang"),
    "R": ("Sport", "Events", "Muziek", "Theater", "Studio"),
    "S": ("Kapsalon", "Schoonheidssalon", "Reparatie", "Pedicure", "Wellness"),
    "T": ("Huishouden",),
    "U": ("Vertegenwoordiging",),
}

#: Legal forms (codes used in the register) and the Handelsregister suffix for trade names.
LEGAL_FORMS: dict[str, str] = {
    "eenmanszaak": "",
    "vof": " V.O.F.",
    "bv": " B.V.",
    "other": "",
}

#: P(legal form | size group) at entry, size groups "1", "2-9", "10+"; chosen so that after the
#: default incorporations (eenmanszaak/VOF -> BV) the stock in 2024 is ≈ eenmanszaak 62%,
#: vof/cv/maatschap 10%, bv/nv 25%, other 4% (domain.md §3).
LEGAL_FORM_BY_SIZE: dict[str, dict[str, float]] = {
    "1": {"eenmanszaak": 0.75, "vof": 0.075, "bv": 0.135, "other": 0.04},
    "2-9": {"eenmanszaak": 0.33, "vof": 0.27, "bv": 0.35, "other": 0.05},
    "10+": {"eenmanszaak": 0.05, "vof": 0.10, "bv": 0.75, "other": 0.10},
}

#: KVK's five regions (2023 study). Configuration: change here if KVK changes its regions.
PROVINCE_REGION: dict[str, str] = {
    "PV20": "Noord",
    "PV21": "Noord",
    "PV22": "Noord",
    "PV23": "Oost",
    "PV24": "West",
    "PV25": "Oost",
    "PV26": "West",
    "PV27": "West",
    "PV28": "Zuidwest",
    "PV29": "Zuidwest",
    "PV30": "Zuid",
    "PV31": "Zuid",
}
REGIONS: tuple[str, ...] = ("Noord", "Oost", "Zuid", "Zuidwest", "West")

#: Approximate population 2024 (millions) per province: a SYNTHETIC prior for business shares.
_POPULATION: dict[str, float] = {
    "PV20": 0.59,
    "PV21": 0.66,
    "PV22": 0.50,
    "PV23": 1.18,
    "PV24": 0.45,
    "PV25": 2.14,
    "PV26": 1.40,
    "PV27": 2.95,
    "PV28": 3.83,
    "PV29": 0.39,
    "PV30": 2.63,
    "PV31": 1.12,
}
_rest = sum(v for k, v in _POPULATION.items() if k not in {"PV27", "PV28"})
#: Business shares per province: Zuid-Holland and Noord-Holland 20% each (domain.md §3), the other
#: 60% population-proportional (synthetic prior).
PROVINCE_SHARES: dict[str, float] = {
    k: (0.20 if k in {"PV27", "PV28"} else 0.60 * v / _rest) for k, v in _POPULATION.items()
}


@dataclass(frozen=True)
class Municipality:
    """A municipality (CBS ``GM`` code) with a relative weight and a postcode-4 range."""

    code: str
    name: str
    province: str
    weight: float
    pc_low: int
    pc_high: int


def _m(code: str, name: str, province: str, weight: float, lo: int, hi: int) -> Municipality:
    return Municipality(code, name, province, weight, lo, hi)


#: A plausible handful of municipalities per province (weights ≈ population in 1000s, postcode
#: ranges approximate). Synthetic: the register does not hold every municipality.
MUNICIPALITIES: tuple[Municipality, ...] = (
    _m("GM0014", "Groningen", "PV20", 240, 9711, 9747),
    _m("GM1966", "Het Hogeland", "PV20", 48, 9950, 9989),
    _m("GM1969", "Westerkwartier", "PV20", 64, 9800, 9829),
    _m("GM0037", "Stadskanaal", "PV20", 32, 9500, 9509),
    _m("GM0047", "Veendam", "PV20", 28, 9640, 9649),
    _m("GM0080", "Leeuwarden", "PV21", 125, 8911, 8939),
    _m("GM1900", "Sudwest-Fryslan", "PV21", 92, 8600, 8759),
    _m("GM0074", "Heerenveen", "PV21", 51, 8440, 8449),
    _m("GM0090", "Smallingerland", "PV21", 56, 9200, 9209),
    _m("GM0106", "Assen", "PV22", 69, 9401, 9409),
    _m("GM0114", "Emmen", "PV22", 108, 7811, 7889),
    _m("GM0119", "Meppel", "PV22", 35, 7940, 7949),
    _m("GM0118", "Hoogeveen", "PV22", 56, 7900, 7909),
    _m("GM0193", "Zwolle", "PV23", 132, 8011, 8049),
    _m("GM0153", "Enschede", "PV23", 161, 7511, 7548),
    _m("GM0150", "Deventer", "PV23", 102, 7411, 7429),
    _m("GM0164", "Hengelo", "PV23", 82, 7550, 7559),
    _m("GM0141", "Almelo", "PV23", 74, 7601, 7609),
    _m("GM0034", "Almere", "PV24", 222, 1311, 1363),
    _m("GM0995", "Lelystad", "PV24", 82, 8211, 8245),
    _m("GM0171", "Noordoostpolder", "PV24", 48, 8300, 8316),
    _m("GM0303", "Dronten", "PV24", 42, 8250, 8256),
    _m("GM0202", "Arnhem", "PV25", 166, 6811, 6846),
    _m("GM0268", "Nijmegen", "PV25", 182, 6511, 6546),
    _m("GM0200", "Apeldoorn", "PV25", 166, 7311, 7339),
    _m("GM0228", "Ede", "PV25", 122, 6710, 6719),
    _m("GM0289", "Wageningen", "PV25", 40, 6700, 6709),
    _m("GM0344", "Utrecht", "PV26", 367, 3511, 3585),
    _m("GM0307", "Amersfoort", "PV26", 160, 3811, 3829),
    _m("GM0356", "Nieuwegein", "PV26", 64, 3431, 3439),
    _m("GM0345", "Veenendaal", "PV26", 67, 3901, 3907),
    _m("GM0363", "Amsterdam", "PV27", 931, 1011, 1109),
    _m("GM0392", "Haarlem", "PV27", 164, 2011, 2037),
    _m("GM0479", "Zaanstad", "PV27", 158, 1500, 1567),
    _m("GM0361", "Alkmaar", "PV27", 111, 1811, 1829),
    _m("GM0394", "Haarlemmermeer", "PV27", 162, 2131, 2152),
    _m("GM0402", "Hilversum", "PV27", 93, 1211, 1223),
    _m("GM0599", "Rotterdam", "PV28", 664, 3011, 3089),
    _m("GM0518", "'s-Gravenhage", "PV28", 562, 2491, 2597),
    _m("GM0546", "Leiden", "PV28", 127, 2311, 2334),
    _m("GM0505", "Dordrecht", "PV28", 121, 3311, 3329),
    _m("GM0637", "Zoetermeer", "PV28", 127, 2711, 2729),
    _m("GM0503", "Delft", "PV28", 106, 2611, 2629),
    _m("GM0687", "Middelburg", "PV29", 49, 4330, 4339),
    _m("GM0718", "Vlissingen", "PV29", 45, 4380, 4389),
    _m("GM0715", "Terneuzen", "PV29", 55, 4530, 4539),
    _m("GM0664", "Goes", "PV29", 39, 4460, 4465),
    _m("GM0772", "Eindhoven", "PV30", 243, 5611, 5658),
    _m("GM0855", "Tilburg", "PV30", 227, 5011, 5049),
    _m("GM0758", "Breda", "PV30", 187, 4811, 4841),
    _m("GM0796", "'s-Hertogenbosch", "PV30", 160, 5211, 5249),
    _m("GM0794", "Helmond", "PV30", 94, 5701, 5709),
    _m("GM0935", "Maastricht", "PV31", 122, 6211, 6229),
    _m("GM0917", "Heerlen", "PV31", 87, 6411, 6422),
    _m("GM0983", "Venlo", "PV31", 102, 5911, 5929),
    _m("GM0957", "Roermond", "PV31", 59, 6040, 6045),
    _m("GM1883", "Sittard-Geleen", "PV31", 91, 6130, 6137),
)


@dataclass(frozen=True)
class Activity:
    """One KVK service of the activity catalogue (domain.md §4).

    ``share`` is the share of interactions, ``capture`` the probability that a KVK number is asked
    and filled in, ``name_capture`` the probability a company name and address are recorded,
    ``effect`` the planted effect on employment and turnover (fraction, full after ``ramp`` years).
    The statutory task per activity and all rates are synthetic assumptions.
    """

    name: str
    statutory_task: str
    channel: str
    share: float
    capture: float
    name_capture: float
    effect: float


ACTIVITIES: tuple[Activity, ...] = (
    Activity("Content kvk.nl", "region", "web", 0.20, 0.0, 0.0, 0.000),
    Activity("Nieuwsbrief", "region", "email", 0.06, 0.05, 0.30, 0.004),
    Activity("Informatiepakket", "region", "web", 0.04, 0.10, 0.50, 0.006),
    Activity("KVK Adviesteam", "region", "phone/chat", 0.12, 0.45, 0.80, 0.020),
    Activity("YouTube-serie", "region", "video", 0.03, 0.0, 0.0, 0.000),
    Activity("E-mailreeks", "region", "email", 0.03, 0.10, 0.40, 0.006),
    Activity("Evenement", "region", "event-physical", 0.06, 0.75, 0.95, 0.024),
    Activity("Startersevenement", "region", "event-physical", 0.05, 0.70, 0.95, 0.030),
    Activity("Webinar", "region", "event-digital", 0.07, 0.60, 0.90, 0.016),
    Activity("Seminar met derden", "region", "event-physical", 0.02, 0.65, 0.95, 0.020),
    Activity("Krachtmeting", "innovation", "programme", 0.015, 0.95, 1.0, 0.080),
    Activity("Export Nieuwe Markten tool", "innovation", "tool", 0.02, 0.85, 0.90, 0.040),
    Activity("Locatiescan", "region", "tool", 0.02, 0.80, 0.90, 0.020),
    Activity("KVK Innovatie Top 100", "innovation", "programme", 0.005, 0.95, 1.0, 0.100),
    Activity("MijnDigitaleZaak", "innovation", "tool", 0.05, 0.85, 0.95, 0.060),
    Activity("KVK Business Challenge", "innovation", "programme", 0.015, 0.95, 1.0, 0.120),
    Activity("StartupBox", "innovation", "programme", 0.02, 0.90, 1.0, 0.070),
    Activity("MKB Diagnosetool", "innovation", "tool", 0.04, 0.85, 0.95, 0.050),
    Activity("Speakersacademie", "innovation", "event-physical", 0.01, 0.80, 0.95, 0.030),
    Activity("KVK Regiodatatool", "region", "tool", 0.02, 0.50, 0.70, 0.010),
    Activity("Bedrijventeller", "region", "tool", 0.015, 0.30, 0.60, 0.004),
    Activity("Data- en toekomstverkenningen", "region", "web", 0.01, 0.20, 0.50, 0.006),
    Activity("Regionaal trendrapport", "region", "web", 0.01, 0.10, 0.40, 0.004),
    Activity("Regionale nieuwsbrief", "region", "email", 0.03, 0.05, 0.30, 0.004),
)
