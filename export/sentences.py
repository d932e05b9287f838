"""English sentences the project writes itself, for synthetic evaluation and training speech.

Why generate rather than borrow: the set must be free of licence questions, reproducible
anywhere, and split into train/dev/test/calibration parts that never share a sentence, so a
model trained on "train" is never scored on text it has seen. Every template and word list
below was written for this project.

Numbers, prices, times and dates are spoken words in forms where what is heard and what a
recogniser usually writes normalise alike with `edgeasr.runtime.metrics.normalize`
(Whisper's English normaliser): "twenty five dollars" and "$25" both give "$25", "on the
third" and "on the 3rd" give "on the 3rd", "half past ten" gives "half past 10". Forms that
do not agree are left out: clock readings ("ten thirty" -> "1030" but "10:30" -> "10 30"),
"o'clock", "a.m./p.m.", "a hundred", cents alone, ranges ("five to ten" vs "5-10"), degrees,
units that get abbreviated, day-and-month dates ("the twelfth of June" is often written
"12 June"), and names with several common spellings (Sarah/Sara).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable
from functools import lru_cache

# Share of all possible sentences in each split (by hash of the normalised text).
SPLITS = {"train": (0.0, 0.7), "dev": (0.7, 0.8), "test": (0.8, 0.9), "calibration": (0.9, 1.0)}
MIN_WORDS, MAX_WORDS = 4, 32


def _words(text: str) -> tuple[str, ...]:
    """A word list written as 'a|b c|d' (entries may hold several words)."""
    return tuple(w.strip() for w in text.split("|") if w.strip())


FIRST = _words(
    "Emma|Oliver|David|Maria|James|Laura|Peter|Rachel|Thomas|Daniel|Anna|Lucy|George|Helen|Frank|"
    "Robert|Linda|Victor|Grace|Henry|Julia|Martin|Oscar|Ruby|Samuel|Nina|Paul|Kevin|Diana|Simon|"
    "Emily|Jack|William|Olivia|Andrew|Susan|Richard|Patrick|Monica|Jessica|Edward|Charlotte|"
    "Benjamin|Victoria|Michael|Alice|Joseph|Walter|Elena|Lisa|Adam|Nancy|Harry|Amy|Maya|Leo"
)
SURNAMES = _words(
    "Smith|Johnson|Miller|Brown|Wilson|Taylor|Walker|Carter|Turner|Parker|Baker|Cooper|Morgan|"
    "Bennett|Harris|Lewis|Young|Hughes|Foster|Fisher|Porter|Hunter|Murphy|Russell|Palmer|Mitchell|"
    "Robinson|Edwards|Collins|Morris|Rogers|Bell|Ward|Richardson|Howard|Watson|Brooks|Jenkins|"
    "Powell|Butler|Barnes|Fleming|Graham|Anderson|Campbell|Garcia|Martinez|Nelson|Fletcher|"
    "Chapman|Holmes|Warren|Dixon|Mason|Marshall|Spencer"
)
TITLES = _words("Doctor|Mister|Professor")
CITIES = _words(
    "Boston|Chicago|Denver|Seattle|Dallas|Atlanta|Phoenix|Portland|Detroit|Houston|Toronto|London|"
    "Paris|Berlin|Madrid|Dublin|Sydney|Tokyo|Rome|Vienna|Amsterdam|Lisbon|Miami|Montreal|Vancouver|"
    "Edinburgh|Manchester|San Francisco|Los Angeles|New York|Philadelphia|Nashville|Baltimore|Oslo|"
    "Stockholm|Prague|Athens|Cairo|Mexico City|Chicago|Glasgow|Barcelona|Copenhagen|Melbourne"
)
PLACES = _words(
    "library|train station|airport|hospital|bakery|pharmacy|post office|museum|park|bank|"
    "supermarket|cinema|gym|school|office|hotel|restaurant|market|bus stop|city hall|church|"
    "stadium|beach|bridge|swimming pool|garage|bookstore|town square|fire station|playground|"
    "hardware store|police station|concert hall|shopping center|car park|petrol station"
)
OBJECTS = _words(
    "umbrella|wallet|laptop|phone charger|jacket|backpack|notebook|camera|bicycle|folder|scarf|"
    "water bottle|suitcase|coat|sweater|lamp|chair|blanket|headphones|keyboard|calendar|map|"
    "ticket|passport|helmet|mug|watch|basket|ladder|hammer|shovel|guitar|radio|mirror|pillow"
)
COLORS = _words("red|blue|green|yellow|black|white|brown|orange|purple|gray|pink|silver|dark|small|big|old|new")
FOODS = _words(
    "apples|bananas|oranges|tomatoes|potatoes|carrots|onions|eggs|lemons|peaches|strawberries|"
    "pears|cucumbers|muffins|bagels|cookies|sandwiches|peppers|mushrooms|grapes|avocados|"
    "bread rolls|pancakes|cupcakes|sausages|plums|cherries"
)
DRINKS = _words(
    "a cup of coffee|a cup of tea|a glass of orange juice|a lemonade|a glass of water|"
    "a hot chocolate|a glass of milk|an iced tea|a bottle of sparkling water"
)
DISHES = _words(
    "a cheese sandwich|a bowl of soup|a green salad|a slice of pizza|a plate of pasta|"
    "a piece of apple pie|some fried rice|a vegetable curry|a chicken burger|some fish and chips"
)
JOBS = _words(
    "a nurse|a teacher|an engineer|a lawyer|a chef|a pilot|a dentist|a plumber|a journalist|"
    "a librarian|a photographer|a pharmacist|an accountant|an electrician|an architect|"
    "a firefighter|a mechanic|a farmer|a designer|a police officer|a bus driver|a carpenter"
)
RELATIVES = _words(
    "mother|father|sister|brother|aunt|uncle|cousin|grandmother|grandfather|neighbor|daughter|"
    "son|wife|husband|best friend|boss|roommate|teacher"
)
EVENTS = _words(
    "meeting|concert|party|wedding|football game|dinner|lecture|interview|workshop|birthday party|"
    "school play|team lunch|yoga class|book club|piano lesson|tennis match|art class|quiz night"
)
WEEKDAYS = _words("Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday")
MONTHS = _words("January|February|March|April|May|June|July|August|September|October|November|December")
WHEN = _words(
    "today|tomorrow|tonight|this morning|this afternoon|this evening|next week|next month|"
    "on the weekend|tomorrow morning|later today|after lunch|before dinner"
)
PAST = _words("yesterday|last night|this morning|last week|on Sunday|an hour ago|two days ago|last month")
TRANSPORT = _words("train|bus|ferry|flight|boat|shuttle|tram|night bus|express train")
WEATHER = _words("rain|snow|be sunny|be windy|be cloudy|get colder|warm up|be foggy|clear up")
ACTIVITIES = _words(
    "go swimming|play tennis|clean the kitchen|fix the bike|paint the fence|bake bread|"
    "read a book|walk the dog|visit the museum|watch a movie|cook dinner|do the laundry|"
    "wash the car|water the garden|study for the exam|go for a run|call the bank|plant some flowers|"
    "tidy the garage|write some letters|practice the piano|go hiking in the hills|repair the roof"
)
LANGUAGES = _words("Spanish|French|German|Italian|Japanese|Portuguese|Chinese|Greek|Dutch|Korean")
TOPICS = _words(
    "climate change|history|music|cooking|gardening|photography|space travel|healthy eating|"
    "city planning|old buildings|modern art|ocean science|local farming|public transport|sleep"
)
ROOMS = _words("kitchen|bathroom|living room|bedroom|hallway|basement|attic|dining room|laundry room")
FURNITURE = _words("table|shelf|desk|sofa|counter|windowsill|bench|cupboard")
ADJ = _words(
    "busy|quiet|crowded|expensive|cheap|friendly|noisy|clean|beautiful|modern|tiny|huge|"
    "comfortable|warm|cold|bright|empty|famous|popular|lovely"
)
FEELINGS = _words("tired|happy|hungry|nervous|excited|worried|bored|surprised|busy|sleepy|proud")
SHOPS = _words("market|bakery|supermarket|corner shop|farm shop|grocery store")
STORES = _words("department store|hardware store|shopping center|flea market|garden center|market")
CONTAINERS = _words("box|fridge|cupboard|basket|drawer|bag|jar|freezer")

_ONES = _words(
    "zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    "fifteen|sixteen|seventeen|eighteen|nineteen"
)
_TENS = ("", "", *_words("twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"))
_ORD = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}  # fmt: skip


def cardinal(n: int) -> str:
    """0 <= n < 1,000,000 in words, without "and" ("two hundred six"): a recogniser hearing
    "seven hundred and seventy four" sometimes writes "700 and 74", which no longer
    normalises to "774"."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + cardinal(rest))
    rest = n % 1000
    head = cardinal(n // 1000) + " thousand"
    if rest == 0:
        return head
    return head + " " + cardinal(rest)


def ordinal(n: int) -> str:
    """1..99 as an ordinal word ("twenty first")."""
    words = cardinal(n).split()
    last = words[-1]
    if last in _ORD:
        words[-1] = _ORD[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year(y: int) -> str:
    """Years the way people say them: "nineteen eighty five", "two thousand five", "twenty twelve"."""
    if 2000 <= y < 2010:
        return cardinal(y)
    hi, lo = divmod(y, 100)
    return cardinal(hi) + " " + ("hundred" if lo == 0 else cardinal(lo))


# Number slots. "one" is avoided where it would be a count (singular nouns); times and dates
# use forms that normalise the same whether written as words or digits.
def _count(r: random.Random) -> str:
    x = r.random()
    n = r.randint(2, 12) if x < 0.6 else r.randint(13, 99) if x < 0.9 else r.randint(100, 999)
    return cardinal(n)


def _price(r: random.Random) -> str:
    unit = r.choice(("dollars", "dollars", "dollars", "euros", "pounds"))
    x = r.random()
    if x < 0.45:
        return f"{cardinal(r.randint(2, 99))} {unit}"
    if x < 0.75 and unit == "dollars":
        return f"{cardinal(r.randint(2, 49))} dollars and {cardinal(5 * r.randint(1, 19))} cents"
    if x < 0.9:
        return f"{cardinal(r.randint(100, 999))} {unit}"
    return f"{cardinal(r.randint(1, 90) * 100 + r.choice((0, 0, 50, 250)))} {unit}"


def _clock(r: random.Random) -> str:
    h = cardinal(r.randint(1, 12))
    return r.choice(
        (
            f"half past {h}",
            f"quarter past {h}",
            f"quarter to {h}",
            f"ten past {h}",
            f"twenty to {h}",
            f"{cardinal(r.randint(5, 11))} in the morning",
            f"{cardinal(r.randint(1, 5))} in the afternoon",
            f"{cardinal(r.randint(6, 10))} in the evening",
            "noon",
            "midnight",
        )
    )


# The normaliser keeps "ninth" as a word (while "9th" stays "9th"): 9th and 29th are left out.
_DAYS = tuple(d for d in range(1, 32) if d not in (9, 29))


def _date(r: random.Random, on: bool = False) -> str:
    # Not "the twelfth of June": recognisers often write it "12 June" ("12 june" after
    # normalising, against "the 12th of june"), and "June twelfth" as "June 12". A day of the
    # month without its month name, or a month without a day, is written one way.
    day = ordinal(r.choice(_DAYS))
    part, month = r.choice(("end", "middle", "start")), r.choice(MONTHS)
    days = (f"the {day}", f"{r.choice(WEEKDAYS)} the {day}", f"the {day} of next month")
    if on:  # "on the twelfth", "at the end of June"
        return r.choice([f"on {d}" for d in days] + [f"{'in' if part == 'middle' else 'at'} the {part} of {month}"])
    return r.choice([*days, f"the {part} of {month}"])


def _pick(words: tuple[str, ...]) -> Callable[[random.Random], str]:
    return lambda r: r.choice(words)


SLOTS: dict[str, Callable[[random.Random], str]] = {
    "first": _pick(FIRST), "city": _pick(CITIES), "place": _pick(PLACES), "object": _pick(OBJECTS),
    "color": _pick(COLORS), "food": _pick(FOODS), "drink": _pick(DRINKS), "dish": _pick(DISHES),
    "job": _pick(JOBS), "relative": _pick(RELATIVES), "event": _pick(EVENTS), "weekday": _pick(WEEKDAYS),
    "month": _pick(MONTHS), "when": _pick(WHEN), "past": _pick(PAST), "transport": _pick(TRANSPORT),
    "weather": _pick(WEATHER), "activity": _pick(ACTIVITIES), "language": _pick(LANGUAGES),
    "topic": _pick(TOPICS), "room": _pick(ROOMS), "furniture": _pick(FURNITURE), "adj": _pick(ADJ),
    "feeling": _pick(FEELINGS), "shop": _pick(SHOPS), "store": _pick(STORES), "container": _pick(CONTAINERS),
    "person": lambda r: f"{r.choice(TITLES)} {r.choice(SURNAMES)}",
    "fullname": lambda r: f"{r.choice(FIRST)} {r.choice(SURNAMES)}",
    "count": _count,
    "small": lambda r: cardinal(r.randint(2, 20)),
    "minutes": lambda r: cardinal(r.choice((5, 10, 15, 20, 25, 30, 40, 45, 50))),
    "percent": lambda r: cardinal(r.randint(2, 99)),
    "age": lambda r: cardinal(r.randint(6, 95)),
    "floor": lambda r: ordinal(r.choice(_DAYS[:10])),
    "price": _price, "clock": _clock, "date": _date, "ondate": lambda r: _date(r, on=True),
    "year": lambda r: year(r.randint(1950, 2029)),
}  # fmt: skip

# Whole sentences (short and medium): everyday statements and questions.
SENTENCES = _words(
    "Where is the {place}?|{first} is running late again.|The {place} is closed {when}.|"
    "See you on {weekday}, {first}.|Is the {place} far from here?|I left my {object} at home.|"
    "How much does the {color} {object} cost?|It costs {price}.|What time does the {event} start?|"
    "Where did you put the {object}?|Do you know if {first} is coming to the {event} {when}?|"
    "Prices went up by {percent} percent this year.|Please call {first} before {clock} {when}.|"
    "The {color} {object} on the {furniture} belongs to {first}.|I think it will {weather} in {city} {when}.|"
    "{first} and {first2} drove {count} miles to visit their {relative} in {city}.|"
    "Our flight lands in {city} at {clock} {ondate}.|There are {small} {food} left in the {container}.|"
    "Turn left at the {place} and walk past the {place2}.|Can I have {drink} and {dish}, please?|"
    "The rent is {price} a month.|Have you seen my {object}? I had it {past}.|"
    "{first} got a prize of {price} in the raffle last {weekday}.|"
    "Remember to water the plants and feed the cat.|"
    "Why is the {place} so {adj} {when}?|Who is giving the talk about {topic} on {weekday}?|"
    "Which {transport} should I take to get to the {place}?|Let us meet in front of the {place} at {clock}.|"
    "My phone battery is at {percent} percent.|The {shop} sells {food} for {price} a box.|"
    "{fullname} was born in {month} {year}.|{first} has been working as {job} for {small} years.|"
    "The {transport} to {city} leaves at {clock}.|I paid {price} for a {color} {object} at the {store}.|"
    "{fullname} moved to {city} in {year}.|My {relative} has a birthday {ondate}.|"
    "Could you buy {small} {food} on your way home?|We need {count} chairs for the {event} on {weekday}.|"
    "The {room} is on the {floor} floor.|It takes about {minutes} minutes to walk to the {place} from here.|"
    "{person} will see you at {clock}.|Is {person} in the office {when}?|How old is your {relative}?|"
    "My {relative} is {age} years old.|{first} is learning {language} at night school.|"
    "Are you {feeling}?|I am a little {feeling} {when}.|We should {activity} {when}.|"
    "Did you {activity} {past}?|{first} wants to {activity} before {clock}.|"
    "The {event} was moved to {date}.|How many {food} do we need for the party?|"
    "About {count} people came to the {event} {past}.|The tickets cost {price} each.|"
    "Can you tell me the way to the {place}?|The {place} opens at {clock} on {weekday}.|"
    "{first} works at the {place} near {city}.|Do you want to {activity} with me {when}?|"
    "There is a {adj} {place} next to my flat.|Our {room} needs a new {object}.|"
    "I have lived in {city} since {year}.|The {transport} was {minutes} minutes late {past}.|"
    "How long does the {transport} to {city} take?|The new {place} cost {price} to build.|"
    "{first} ordered {dish} and {drink}.|Is it going to {weather} {when}?|"
    "What did {first} say about the {event}?|Please leave the {object} in the {room}.|"
    "The {container} is full of {food}.|Nearly {percent} percent of the students passed the test."
)
# Clauses joined in pairs for the long sentences (8 to 12 seconds of speech).
CLAUSES = _words(
    "{first} is meeting {first2} at the {place} {when}|the {transport} to {city} leaves at {clock}|"
    "I paid {price} for a {color} {object}|{fullname} moved to {city} in {year}|"
    "my {relative} wants to {activity} {when}|we have to be at the {place} by {clock}|"
    "the {event} starts at {clock} {ondate}|{first} bought {small} {food} at the {shop}|"
    "the {place} was very {adj} {past}|it might {weather} in {city} {when}|"
    "{person} is away until {date}|the tickets cost {price} each|"
    "about {count} people signed up for the {event}|{first} left the {object} in the {room}|"
    "the {room} on the {floor} floor is being painted|{first} has worked as {job} for {small} years|"
    "the rent went up by {percent} percent|my {relative} lives near the {place} in {city}|"
    "I forgot my {object} at the {place}|{first} was too {feeling} to {activity}|"
    "we ordered {dish} and {drink}|the {transport} was {minutes} minutes late {past}|"
    "{first} is studying {language} for a trip to {city}|the talk about {topic} was moved to {weekday}"
)
CONNECTORS = (", and ", " and ", ", but ", " while ", ", and also ")
OPENERS = ("", "", "", "Actually, ", "By the way, ", "To be honest, ", "I heard that ", "As far as I know, ")
THEN = ("Also, ", "After that, ", "And then ", "", "")
CLOSERS = ("", "", "", " as usual", " I think", " again", " this time", " for once")


def _fill(template: str, r: random.Random) -> str:
    """Replace every {slot} with a drawn value; {slot2} differs from {slot} where possible."""
    seen: dict[str, list[str]] = {}

    def one(m: re.Match[str]) -> str:
        base = m.group(1)
        used = seen.setdefault(base, [])
        value = SLOTS[base](r)
        for _ in range(5):
            if value not in used:
                break
            value = SLOTS[base](r)
        used.append(value)
        return value

    return re.sub(r"\{([a-z]+)\d?\}", one, template)


def _compose(r: random.Random) -> str:
    """One utterance: a whole template (1 to 5 s of speech), two joined clauses (5 to 8 s),
    or those followed by a third clause as a second sentence (8 to 11 s)."""
    x = r.random()
    if x < 0.65:
        text = _fill(r.choice(SENTENCES), r)
    else:
        a, b, c = r.sample(CLAUSES, 3)
        text = r.choice(OPENERS) + _fill(a, r) + r.choice(CONNECTORS) + _fill(b, r) + r.choice(CLOSERS) + "."
        if x > 0.88:
            text += " " + r.choice(THEN) + _fill(c, r) + "."
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", text)  # "a orange" -> "an orange"
    text = re.sub(r"(^|[.?] )([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)
    return text


def _stable_int(*parts: object) -> int:
    """A 64-bit integer from sha256: the same in every process (unlike the salted hash())."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _split_of_normalized(norm: str) -> str:
    u = _stable_int("edgeasr-split-v1", norm) / 2**64
    return next((name for name, (lo, hi) in SPLITS.items() if lo <= u < hi), "calibration")


def split_of(text: str) -> str:
    """The split a sentence belongs to, fixed by a hash of its normalised text, so sentences
    that score the same (also "$25" vs "twenty five dollars") always land in the same split."""
    from edgeasr.runtime.metrics import normalize

    return _split_of_normalized(normalize(text))


def tokens(text: str) -> list[str]:
    """Lower-case words of a sentence, punctuation removed (apostrophes kept)."""
    return re.findall(r"[a-z']+", text.lower())


def generate(n: int, seed: int, split: str) -> list[str]:
    """`n` distinct sentences of `split`, the same list for the same seed in any process;
    a shorter n gives a prefix of a longer one."""
    from edgeasr.runtime.metrics import normalize

    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    r = random.Random(_stable_int("edgeasr-sentences-v1", seed, split))
    out: list[str] = []
    seen: set[str] = set()
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 200 * n + 10_000:
            raise RuntimeError(f"could not find {n} distinct {split} sentences")
        text = _compose(r)
        if not MIN_WORDS <= len(text.split()) <= MAX_WORDS:
            continue
        norm = normalize(text)
        if norm in seen or _split_of_normalized(norm) != split:
            continue
        seen.add(norm)
        out.append(text)
    return out


@lru_cache(maxsize=1)
def _vocabulary() -> frozenset[str]:
    words: set[str] = set()
    groups = [v for k, v in globals().items() if k.isupper() and k[0] != "_" and isinstance(v, tuple)]
    for item in (x for group in groups for x in group if isinstance(x, str)):
        words.update(tokens(re.sub(r"\{[a-z]+\d?\}", " ", item)))
    for n in range(1, 1000):
        words.update(cardinal(n).split())
    words.update(w for d in _DAYS for w in ordinal(d).split())
    words.update(tokens("thousand dollars cents euros pounds percent an next month end middle start"))
    words.update(tokens("half past quarter to in the morning afternoon evening noon midnight"))
    return frozenset(words)


def vocabulary() -> set[str]:
    """Every word (lower-case, as spoken, see `tokens`) that a generated sentence can contain."""
    return set(_vocabulary())
