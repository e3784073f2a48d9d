"""Fast, deterministic generation of LinkedIn-profile-like job result rows.

Rows are stored as compact JSON texts, one string per row, because benchmarks hold a million of
them: a string costs a fraction of a dict, and serving a page becomes a join instead of an encode.
"""

from __future__ import annotations

import json
import random
from itertools import pairwise
from operator import itemgetter


def _pool(values: str) -> tuple[str, ...]:
    return tuple(values.split("|"))  # "|"-separated keeps long pools compact and greppable


FIRST_NAMES = _pool(
    "Alice|Bruno|Chloé|Dmitri|Emma|Farid|Greta|Hiroshi|Inès|Jonas|Karin|Luis|Maëlle|"
    "Nikolai|Olivia|Pavel|Quentin|Rania|Søren|Tomás|Ulla|Victor|Wen|Xavier|Yasmin|Zoë|"
    "Aarav|Beatriz|Cem|Dana|Élodie|Fatima|Gabriel|Hana|Igor|Julia|Kwame|Lea|Mateo|Noor|"
    "Oskar|Priya|Rafael|Sofia|Theo|Uma|Valentin|Wiktoria|Yusuf|Zara|Amélie|Björn|Camille|"
    "Diego|Eva|Finn|Giulia|Hugo|Isla|Jakub|Łukasz|Mia|Nora|Omar"
)
LAST_NAMES = _pool(
    "Martin|Bernard|Dubois|Müller|Schmidt|Rossi|García|Fernández|Kowalski|Nowak|Smith|"
    "Johnson|Brown|Tanaka|Suzuki|Kim|Lee|Nguyen|Silva|Santos|O'Brien|Murphy|Andersson|"
    "Johansson|Novák|Horváth|Popescu|Ivanova|Petrov|Yilmaz|Kaya|Cohen|Levi|Haddad|Mensah|"
    "Okafor|Patel|Sharma|Singh|Chen|Wang|Li|Zhang|Costa|Pereira|de Vries|Jansen|Peeters|"
    "Lambert|Fontaine|Girard|Moreau|Laurent|Leroy|Roux|Fischer|Weber|Wagner|Becker|"
    "Hoffmann|Ricci|Bianchi|Romano|Gallo"
)
COMPANIES = _pool(
    "Acme Corp|Globex|Initech|Umbrella Labs|Hooli|Stark Industries|Wayne Ent.|Cyberdyne|"
    "Soylent|Tyrell|Wonka & Co|Aperture|Black Mesa|Vandelay Imports|Pied Piper|"
    "Massive Dynamic|Oscorp|Gringotts|Monsters Inc|Dunder Mifflin|Nakatomi|Virtucon|Octan|"
    "Zorg|Blue Sun|Weyland|Rekall|Gekko & Co|Sirius Cybernetics|Bluth Company|"
    "Prestige Worldwide|Los Pollos|Krusty Krab|Paper Street|Sterling Cooper|Planet Express|"
    "Ollivanders|Duff|Ajax Systems|Brawndo|Compu-Global|Cogswell Cogs|Spacely Sprockets|"
    "Kwik-E-Mart|Ghostbusters|Yoyodyne|InGen|Benthic Petroleum|Encom|Frobozz|Gadgetron|"
    "Ubik|Data Pirates|Lumon|Helios|Northwind|Contoso|Fabrikam|Tailspin|Litware|"
    "Adventure Works|Woodgrove|Proseware|Trey Research"
)
TITLES = _pool(
    "Head of Growth|Sales Director|Software Engineer|Data Engineer|CTO|CEO|"
    "Marketing Manager|Account Executive|Product Manager|Recruiter|VP Sales|"
    "Customer Success Manager|Founder|Co-founder|Business Developer|Data Analyst|"
    "Head of Data|Growth Hacker|Operations Manager|HR Business Partner|CFO|COO|"
    "Solutions Architect|SDR|BDR|Designer|Engineering Manager|Consultant|Partner|Analyst|"
    "Intern|Freelance"
)
LOCATIONS = _pool(
    "Paris, Île-de-France, France|Lyon, France|Berlin, Germany|Munich, Bavaria, Germany|"
    "London, England, United Kingdom|Dublin, Ireland|Madrid, Spain|Barcelona, Spain|"
    "Milan, Italy|Amsterdam, Netherlands|Brussels, Belgium|Zürich, Switzerland|"
    "Stockholm, Sweden|Copenhagen, Denmark|Warsaw, Poland|Prague, Czechia|"
    "New York, New York, United States|San Francisco Bay Area|Austin, Texas, United States|"
    "Toronto, Ontario, Canada|Montréal, Québec, Canada|São Paulo, Brazil|Mexico City|"
    "Tokyo, Japan|Singapore|Sydney, Australia|Bengaluru, Karnataka, India|Dubai, UAE|"
    "Tel Aviv, Israel|Lisbon, Portugal|Remote|Greater Paris Metropolitan Region"
)
INDUSTRIES = _pool(
    "Software Development|Financial Services|Retail|Staffing|Marketing|"
    "Hospital & Health Care|Manufacturing|Education"
)
DEGREES = _pool("1st|2nd|3rd|3rd+")

# Every row is first built with all of these, in this order; a variant then picks its columns.
ALL_KEYS = tuple(
    "linkedin_profile_url first_name last_name full_name headline job_title company_name "
    "location connection_degree profile_image_url industry sales_navigator_url".split()
)
BASE_KEYS = ALL_KEYS[:10]
# Key sets vary a little between workflows, as different scrapers return different columns.
VARIANTS = (
    BASE_KEYS,
    BASE_KEYS[:9] + ("industry",),
    tuple(k for k in BASE_KEYS if k != "connection_degree") + ("sales_navigator_url",),
)
_PICKERS = tuple(itemgetter(*(ALL_KEYS.index(k) for k in keys)) for keys in VARIANTS)


def _slug(text: str) -> str:
    return "".join(c for c in text.lower() if c.isascii() and c.isalnum())


# Rows are rendered straight to JSON text: the pools hold no character that JSON would escape,
# and skipping the generic encoder makes rows several times cheaper to generate and serve.
assert not any(
    c in s
    for pool in (FIRST_NAMES, LAST_NAMES, COMPANIES, TITLES, LOCATIONS, INDUSTRIES)
    for s in pool
    for c in '"\\'
), "pool needs escaping"
# Attributes are picked with bit masks, so pool sizes must stay these powers of two.
assert (
    len(FIRST_NAMES),
    len(LAST_NAMES),
    len(COMPANIES),
    len(TITLES),
    len(LOCATIONS),
    len(INDUSTRIES),
    len(DEGREES),
) == (64, 64, 64, 32, 32, 8, 4), "pool size changed"
_TEMPLATES = tuple("{" + ",".join(f'"{k}":%s' for k in keys) + "}" for keys in VARIANTS)
_PERSON_BITS = 14  # 16,384 distinct "people" (name, title, company, ...) per variant
_ID = "\x00"  # stands for the row's unique profile id inside a pre-rendered person
_PERSONS: tuple[dict[int, list[str]], ...] = tuple({} for _ in VARIANTS)


def _person_parts(variant: int, person: int) -> list[str]:
    """Render one person's row once, split around its profile id, so a row is one str.join."""
    h = (person * 0x9E3779B1) & 0xFFFFFFFF  # spreads the bits that pick the other attributes
    fi, li, ti, ci = person & 63, (person >> 6) & 63, h & 31, (h >> 5) & 63
    first, last, title, company = FIRST_NAMES[fi], LAST_NAMES[li], TITLES[ti], COMPANIES[ci]
    profile = f"{_slug(first)}-{_slug(last)}-{_ID}"
    values = (
        f"https://www.linkedin.com/in/{profile}",
        first,
        last,
        f"{first} {last}",
        # Some headlines and pictures are missing: every field is nullable upstream.
        None if (h >> 18) & 15 == 0 else f"{title} at {company}",
        title,
        company,
        LOCATIONS[(h >> 11) & 31],
        DEGREES[(h >> 16) & 3],
        None if (h >> 22) & 7 == 0 else f"https://media.licdn.com/dms/image/{_ID}/p.jpg",
        INDUSTRIES[(h >> 25) & 7],
        f"https://www.linkedin.com/sales/lead/{profile}",
    )
    fragments = tuple("null" if v is None else f'"{v}"' for v in values)
    parts = (_TEMPLATES[variant] % _PICKERS[variant](fragments)).split(_ID)
    _PERSONS[variant][person] = parts
    return parts


def generate_rows(
    seed: int | str,
    job_uid: str,
    count: int,
    variant: int,
    duplicate_rate: float,
    force_duplicate: bool = False,
) -> tuple[tuple[str, ...], list[str]]:
    """Return ``(keys, rows)`` for one job: ``count`` rows as compact JSON object texts.

    Seeding per job (not from the dataset's shared rng) keeps rows independent of the order in
    which jobs are first read, and makes a job that grows keep its earlier rows.
    """
    variant %= len(VARIANTS)
    rng = random.Random(f"{seed}:{job_uid}")
    getbits, rand = rng.getrandbits, rng.random
    persons, mask = _PERSONS[variant], (1 << _PERSON_BITS) - 1
    rows: list[str] = []
    append = rows.append
    for i in range(count):
        if i and rand() < duplicate_rate:
            append(rows[-1])  # an exact duplicate of the previous row, as scrapers produce
            continue
        bits = getbits(_PERSON_BITS + 40)
        person = bits & mask
        parts = persons.get(person) or _person_parts(variant, person)
        append(f"{bits >> _PERSON_BITS:010x}".join(parts))
    if force_duplicate and count >= 2 and all(a != b for a, b in pairwise(rows)):
        rows[1] = rows[0]  # the dataset promises at least one job with two identical rows
    return VARIANTS[variant], rows


def as_dicts(rows: list[str]) -> list[dict]:
    """Parse compact JSON rows into fresh dicts (fresh, so callers may mutate them freely)."""
    return json.loads("[" + ",".join(rows) + "]")


def reshaped(rows: list[str], fields: dict) -> list[str]:
    """Rows with `fields` set in each: new keys, or new values (and types) for existing ones."""
    return [json.dumps({**row, **fields}, separators=(",", ":")) for row in as_dicts(rows)]
