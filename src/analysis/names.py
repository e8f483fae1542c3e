"""Name vocabularies: frequencies for the synthetic population and the nickname table.

The nickname table is the kind of public lookup a data-integration unit uses to standardise
preferred names; the generator draws "preferred name" noise from it and the linkage stage uses it
to standardise. Names are drawn with skewed (Zipf-like) frequencies so common names collide as in
a real province; surnames have a long synthetic tail so the rarest names are rare.
"""

from __future__ import annotations

import numpy as np

FIRST_NAMES_F: tuple[str, ...] = (
    "Olivia", "Emma", "Charlotte", "Amelia", "Sophia", "Ava", "Chloe", "Mia", "Isabella",
    "Abigail", "Emily", "Elizabeth", "Evelyn", "Hannah", "Sarah", "Madison", "Avery", "Lily",
    "Zoe", "Ella", "Grace", "Nora", "Scarlett", "Victoria", "Aria", "Layla", "Leah", "Maya",
    "Aaliyah", "Fatima", "Zara", "Priya", "Ananya", "Mei", "Jasmine", "Alexandra", "Katherine",
    "Jessica", "Jennifer", "Rebecca", "Samantha", "Natalie", "Stephanie", "Margaret", "Patricia",
    "Susan", "Christina", "Gabrielle", "Camille", "Léa", "Juliette", "Florence", "Rosalie",
    "Noémie", "Maëlle", "Amélie", "Béatrice", "Chantal", "Geneviève", "Isabelle", "Mégane",
    "Aiyana", "Kateri", "Winona", "Nayeli", "Imani", "Nia", "Amara", "Keisha", "Abena", "Yara",
    "Noor", "Mariam", "Hiba", "Sana", "Harpreet", "Simran", "Gurleen", "Aisha", "Lina", "Hana",
    "Yuna", "Sakura", "Ji-woo", "Min-seo", "Linh", "Thao", "Mai", "Ngoc", "Maria", "Sofia",
    "Valentina", "Camila", "Lucia", "Daniela", "Ximena", "Ruby", "Violet", "Hazel", "Stella",
    "Aurora", "Penelope", "Naomi", "Eleanor", "Audrey", "Claire", "Lucy", "Anna", "Julia",
    "Kayla", "Brooke", "Paige", "Taylor", "Morgan", "Jordan", "Riley", "Quinn", "Harper",
    "Addison", "Kennedy", "Sydney", "Peyton", "Mackenzie", "Megan", "Lauren", "Ashley",
    "Nicole", "Danielle", "Vanessa", "Alicia", "Caroline", "Deborah", "Dorothy", "Theresa",
    "Josephine", "Vivian", "Adeline", "Ivy", "Elena", "Eva", "Alice", "Rose", "Iris",
)
FIRST_NAMES_M: tuple[str, ...] = (
    "Liam", "Noah", "William", "Benjamin", "Lucas", "Oliver", "James", "Ethan", "Jacob",
    "Alexander", "Logan", "Jackson", "Owen", "Nathan", "Thomas", "Daniel", "Samuel", "Matthew",
    "Michael", "Joseph", "Christopher", "Andrew", "Joshua", "David", "Ryan", "Jonathan",
    "Nicholas", "Anthony", "Robert", "Richard", "Charles", "Edward", "Henry", "Theodore",
    "Gabriel", "Félix", "Léo", "Antoine", "Mathis", "Émile", "Jérôme", "François", "Olivier",
    "Xavier", "Zachary", "Raphaël", "Étienne", "Louis", "Hugo", "Mathéo", "Tyler", "Dylan",
    "Mason", "Hunter", "Carter", "Wyatt", "Connor", "Cole", "Austin", "Brandon", "Justin",
    "Kevin", "Jason", "Eric", "Aaron", "Adam", "Isaac", "Elijah", "Caleb", "Isaiah", "Jeremiah",
    "Malik", "Jamal", "Kwame", "Kofi", "Tariq", "Omar", "Ali", "Hassan", "Yusuf", "Ibrahim",
    "Arjun", "Rohan", "Aarav", "Vihaan", "Harjit", "Gurpreet", "Manpreet", "Wei", "Jun", "Hao",
    "Min-jun", "Seo-jun", "Hiroshi", "Kenji", "Minh", "Duc", "Tuan", "Carlos", "Mateo",
    "Santiago", "Diego", "Alejandro", "Javier", "Luis", "Miguel", "Tristan", "Declan", "Finn",
    "Silas", "Jasper", "Miles", "Leon", "Max", "Jack", "Harry", "George", "Arthur", "Frederick",
    "Patrick", "Sean", "Brian", "Kyle", "Cameron", "Evan", "Gavin", "Ian", "Colin", "Blake",
    "Chase", "Levi", "Jayden", "Aiden", "Grayson", "Carson", "Easton", "Riley", "Jordan",
    "Taylor", "Morgan", "Quinn", "Dakota", "Kieran", "Rowan", "Ronan", "Micah", "Ezra",
)

# Formal name -> preferred names. Used both to inject nickname noise and to standardise names.
NICKNAMES: dict[str, tuple[str, ...]] = {
    "William": ("Will", "Bill", "Liam"),
    "Benjamin": ("Ben", "Benji"),
    "Alexander": ("Alex", "Xander", "Sasha"),
    "Alexandra": ("Alex", "Sasha", "Lexi"),
    "Christopher": ("Chris",),
    "Christina": ("Chris", "Tina"),
    "Matthew": ("Matt",),
    "Michael": ("Mike", "Mikey"),
    "Joseph": ("Joe", "Joey"),
    "Andrew": ("Andy", "Drew"),
    "Joshua": ("Josh",),
    "David": ("Dave",),
    "Jonathan": ("Jon", "Jonny"),
    "Nicholas": ("Nick", "Nico"),
    "Anthony": ("Tony",),
    "Robert": ("Rob", "Bob", "Bobby"),
    "Richard": ("Rick", "Rich"),
    "Charles": ("Charlie", "Chuck"),
    "Edward": ("Ed", "Eddie", "Ted"),
    "Henry": ("Hank", "Harry"),
    "Theodore": ("Theo", "Ted"),
    "Daniel": ("Dan", "Danny"),
    "Samuel": ("Sam", "Sammy"),
    "Thomas": ("Tom", "Tommy"),
    "Zachary": ("Zach", "Zack"),
    "Gabriel": ("Gabe",),
    "Nathan": ("Nate",),
    "Jacob": ("Jake",),
    "James": ("Jim", "Jamie"),
    "Patrick": ("Pat",),
    "Frederick": ("Fred", "Freddie"),
    "Elizabeth": ("Liz", "Beth", "Eliza"),
    "Katherine": ("Kate", "Katie", "Kat"),
    "Jessica": ("Jess", "Jessie"),
    "Jennifer": ("Jen", "Jenny"),
    "Rebecca": ("Becca", "Becky"),
    "Samantha": ("Sam", "Sammy"),
    "Natalie": ("Nat",),
    "Stephanie": ("Steph",),
    "Margaret": ("Maggie", "Meg", "Peggy"),
    "Patricia": ("Patty", "Trish"),
    "Susan": ("Sue", "Susie"),
    "Gabrielle": ("Gabby", "Elle"),
    "Isabella": ("Bella", "Izzy"),
    "Isabelle": ("Izzy", "Belle"),
    "Abigail": ("Abby",),
    "Victoria": ("Vicky", "Tori"),
    "Josephine": ("Josie", "Jo"),
    "Eleanor": ("Ellie", "Nora"),
    "Penelope": ("Penny",),
    "Madison": ("Maddie",),
    "Danielle": ("Dani",),
    "Olivia": ("Liv", "Livvy"),
    "Evelyn": ("Evie",),
    "Deborah": ("Deb", "Debbie"),
    "Dorothy": ("Dot", "Dottie"),
    "Theresa": ("Tess", "Terri"),
    "Caroline": ("Carrie",),
    "Mackenzie": ("Kenzie",),
    "François": ("Frank",),
    "Jérôme": ("Jerry",),
    "Xavier": ("Xav",),
    "Mathéo": ("Matt",),
    "Geneviève": ("Gen",),
}

SURNAMES_COMMON: tuple[str, ...] = (
    "Smith", "Brown", "Tremblay", "Martin", "Roy", "Wilson", "MacDonald", "Gagnon", "Johnson",
    "Taylor", "Côté", "Campbell", "Anderson", "Leblanc", "Lee", "Jones", "White", "Williams",
    "Miller", "Thompson", "Gauthier", "Young", "Van", "Morin", "Bouchard", "Scott", "Stewart",
    "Belanger", "Reid", "Pelletier", "Moore", "Lavoie", "King", "Robinson", "Levesque", "Murphy",
    "Fortin", "Gagné", "Wong", "Clark", "Johnston", "Clarke", "Ross", "Walker", "Thomas",
    "Boucher", "Landry", "Kelly", "Bergeron", "Singh", "Patel", "Nguyen", "Chen", "Wang", "Li",
    "Zhang", "Liu", "Kim", "Park", "Tran", "Khan", "Ahmed", "Ali", "Hussain", "Shah", "Sharma",
    "Gill", "Sandhu", "Dhillon", "Grewal", "Garcia", "Rodriguez", "Hernandez", "Lopez",
    "Gonzalez", "Perez", "Silva", "Santos", "Fernandes", "Rossi", "Russo", "Esposito", "Romano",
    "Ricci", "Kowalski", "Nowak", "Wisniewski", "Kovac", "Horvat", "Ivanov", "Petrov",
    "Mohamed", "Hassan", "Ibrahim", "Osman", "Abdi", "Mensah", "Owusu", "Boateng", "Okafor",
    "Adeyemi", "Francis", "Joseph", "Charles", "Pierre", "Jean", "Baptiste", "Sutherland",
    "Cheechoo", "Beardy", "Meekis", "Kakekaspan", "Whiteduck", "Commanda", "Nahwegahbow",
    "Cardinal", "Bear", "Thunder", "Fiddler", "Moonias", "Sakanee", "Hill", "Green", "Hall",
    "Wright", "Mitchell", "Carter", "Phillips", "Evans", "Turner", "Parker", "Collins", "Edwards",
    "Morris", "Rogers", "Cook", "Morgan", "Bell", "Murray", "Graham", "Hamilton", "Fraser",
    "Cameron", "Ferguson", "McKenzie", "Grant", "Hughes", "Gordon", "Baker", "Harris", "Lewis",
)

_SYLLABLES_A = (
    "Ab", "Al", "Ar", "Bal", "Bar", "Ber", "Bo", "Bran", "Car", "Cas", "Dal", "Dar", "Del", "Dun",
    "El", "Es", "Fal", "Fen", "Gar", "Gil", "Gor", "Hal", "Har", "Hol", "Ing", "Jan", "Kal", "Kar",
    "Kel", "Lan", "Lar", "Mac", "Mal", "Mar", "Mel", "Mor", "Nar", "Nor", "Ol", "Or", "Pal", "Pen",
    "Quin", "Ral", "Ren", "Ros", "Sal", "Sar", "Sel", "Tal", "Tor", "Ul", "Val", "Ver", "Wal",
    "Wes", "Yor", "Zan", "Zel", "Ash", "Bre", "Cor", "Dra", "Fitz", "Gra", "Kin", "Lind",
)
_SYLLABLES_B = (
    "a", "e", "i", "o", "u", "en", "an", "in", "on", "er", "ar", "el", "ol", "is", "ett", "ow",
)
_SYLLABLES_C = (
    "ford", "ton", "wood", "field", "berg", "stein", "son", "sen", "ley", "by", "well", "more",
    "land", "ridge", "dale", "worth", "man", "burn", "ski", "enko", "ova", "escu", "ides", "ini",
    "ez", "eau", "ault", "ier", "ette", "ard", "ville", "mont", "court", "shaw", "wick", "ham",
)


def surname_vocabulary() -> tuple[np.ndarray, np.ndarray]:
    """All surnames with their population shares (common head + long synthetic tail).

    Returns
    -------
    names, probs
        ``names`` as an object array; ``probs`` sums to 1. The head follows Zipf(1.0) and holds
        about 40% of people; the tail (tens of thousands of names) holds the rest.
    """
    tail = [a + b + c for a in _SYLLABLES_A for b in _SYLLABLES_B for c in _SYLLABLES_C]
    tail_names = [t[0] + t[1:].lower() for t in tail if t not in SURNAMES_COMMON]
    head = np.array(SURNAMES_COMMON, dtype=object)
    head_w = 1.0 / np.arange(1, len(head) + 1) ** 1.0
    head_w = 0.40 * head_w / head_w.sum()
    tail_arr = np.array(sorted(set(tail_names)), dtype=object)
    tail_w = 1.0 / np.arange(1, len(tail_arr) + 1) ** 0.6
    tail_w = 0.60 * tail_w / tail_w.sum()
    return np.concatenate([head, tail_arr]), np.concatenate([head_w, tail_w])


def first_name_vocabulary(gender: str) -> tuple[np.ndarray, np.ndarray]:
    """First names for ``gender`` ("female" or "male") with Zipf(0.9) shares."""
    names = FIRST_NAMES_F if gender == "female" else FIRST_NAMES_M
    w = 1.0 / np.arange(1, len(names) + 1) ** 0.9
    return np.array(names, dtype=object), w / w.sum()
