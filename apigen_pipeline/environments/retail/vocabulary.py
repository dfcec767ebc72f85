"""Word lists the retail generator draws from: people, places and a 50-type product catalogue.

Tuples, not sets, so that drawing from them with a seeded `random.Random` is reproducible.
"""

from __future__ import annotations

from typing import NamedTuple

FIRST_NAMES: tuple[str, ...] = (
    "Mia", "Noah", "Olivia", "Liam", "Emma", "Ethan", "Ava", "Lucas", "Sofia", "Mason", "Isabella",
    "Logan", "Amelia", "James", "Harper", "Aiden", "Evelyn", "Elijah", "Abigail", "Yusuf", "Emily",
    "Daniel", "Chloe", "Matthew", "Aarav", "Layla", "Omar", "Zoe", "Mei", "Raj", "Fatima", "Hiroshi",
    "Ivan", "Lena", "Mateo", "Camila", "Santiago", "Valentina", "Kenji", "Aisha", "Priya", "Chen",
    "Lucia", "Diego", "Nora", "Samuel", "Grace", "Leo", "Hannah", "Julian", "Aria", "Isaac", "Ella",
    "Anya", "Mohamed", "Sara", "Tariq", "Ingrid", "Kwame", "Amara", "Juan", "Rosa", "Elena", "Arjun",
    "Yara", "Ravi", "Sophia", "Ahmed", "Lily", "Jack", "Maya", "Owen", "Nia", "Finn", "Ayesha",
    "Carlos", "Daiki", "Freya", "Gabriel", "Hana", "Ines", "Jonas", "Kiara", "Malik", "Naomi",
    "Oscar", "Paula", "Quinn", "Rahul", "Selin", "Theo", "Uma", "Victor", "Wen", "Ximena", "Yuto",
    "Zain", "Bianca", "Emil", "Leila",
)

LAST_NAMES: tuple[str, ...] = (
    "Garcia", "Smith", "Johnson", "Brown", "Lopez", "Nguyen", "Kim", "Patel", "Wilson", "Martinez",
    "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White",
    "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "Wright",
    "Scott", "Torres", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera",
    "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans", "Turner", "Diaz",
    "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales", "Murphy", "Cook",
    "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson", "Bailey", "Reed", "Kelly", "Howard",
    "Ramos", "Cox", "Ward", "Richardson", "Watson", "Brooks", "Chavez", "Wood", "James", "Bennett",
    "Gray", "Mendoza", "Ruiz", "Hughes", "Price", "Alvarez", "Castillo", "Sanders", "Khan", "Ali",
    "Chen", "Wang", "Singh", "Kumar", "Sato", "Tanaka", "Silva", "Santos", "Ivanov", "Muller", "Rossi",
)

EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "mailbox.test", "inbox.example", "post.example.org")

STREET_NAMES: tuple[str, ...] = (
    "Main Street", "Oak Avenue", "Maple Drive", "Cedar Lane", "Elm Street", "Pine Road", "Washington Avenue",
    "Lakeview Drive", "Hillcrest Road", "Sunset Boulevard", "River Road", "Park Avenue", "Highland Avenue",
    "Chestnut Street", "Willow Way", "Broadway", "Spring Street", "Church Street", "Mill Road",
    "Forest Avenue", "Meadow Lane", "Harbor Drive", "Jefferson Street", "Lincoln Avenue", "Franklin Street",
    "Walnut Street", "Cherry Lane", "Ridge Road", "Valley View Drive", "Bayview Avenue",
)

UNIT_KINDS: tuple[str, ...] = ("Suite", "Apt", "Unit")


class City(NamedTuple):
    name: str
    state: str
    zip_prefix: str  # first three digits; the generator adds the last two


CITIES: tuple[City, ...] = (
    City("New York", "NY", "100"), City("Los Angeles", "CA", "900"), City("Chicago", "IL", "606"),
    City("Houston", "TX", "770"), City("Phoenix", "AZ", "850"), City("Philadelphia", "PA", "191"),
    City("San Antonio", "TX", "782"), City("San Diego", "CA", "921"), City("Dallas", "TX", "752"),
    City("San Jose", "CA", "951"), City("Austin", "TX", "787"), City("Jacksonville", "FL", "322"),
    City("Columbus", "OH", "432"), City("Charlotte", "NC", "282"), City("Indianapolis", "IN", "462"),
    City("San Francisco", "CA", "941"), City("Seattle", "WA", "981"), City("Denver", "CO", "802"),
    City("Washington", "DC", "200"), City("Boston", "MA", "021"), City("Nashville", "TN", "372"),
    City("Portland", "OR", "972"), City("Las Vegas", "NV", "891"), City("Detroit", "MI", "482"),
    City("Memphis", "TN", "381"), City("Louisville", "KY", "402"), City("Baltimore", "MD", "212"),
    City("Milwaukee", "WI", "532"), City("Albuquerque", "NM", "871"), City("Tucson", "AZ", "857"),
    City("Fresno", "CA", "937"), City("Sacramento", "CA", "958"), City("Atlanta", "GA", "303"),
    City("Miami", "FL", "331"), City("Minneapolis", "MN", "554"), City("Pittsburgh", "PA", "152"),
    City("Cleveland", "OH", "441"), City("Raleigh", "NC", "276"), City("Salt Lake City", "UT", "841"),
    City("Madison", "WI", "537"),
)

CARD_BRANDS: tuple[str, ...] = ("visa", "mastercard", "amex", "discover")


class ProductType(NamedTuple):
    name: str
    price_range: tuple[float, float]
    options: tuple[tuple[str, tuple[str, ...]], ...]  # (option name, values); at least 20 combinations


def _opts(**values: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(values.items())


_COLORS = ("black", "white", "red", "blue", "green", "grey", "navy", "purple")
_SIZES = ("S", "M", "L", "XL", "XXL")

CATALOGUE: tuple[ProductType, ...] = (
    ProductType("T-Shirt", (14.99, 59.99), _opts(color=_COLORS, size=_SIZES, material=("cotton", "polyester"),
                                                  style=("crew neck", "v-neck"))),
    ProductType("Hoodie", (34.99, 119.99), _opts(color=_COLORS, size=_SIZES, material=("cotton", "fleece"))),
    ProductType("Jacket", (59.99, 299.99), _opts(color=_COLORS, size=_SIZES,
                                                 type=("bomber", "windbreaker", "puffer", "denim"))),
    ProductType("Running Shoes", (59.99, 219.99), _opts(size=("7", "8", "9", "10", "11", "12"), color=_COLORS,
                                                        material=("mesh", "synthetic"))),
    ProductType("Hiking Boots", (89.99, 279.99), _opts(size=("7", "8", "9", "10", "11", "12"),
                                                       material=("leather", "synthetic"), waterproof=("yes", "no"))),
    ProductType("Sneakers", (44.99, 159.99), _opts(size=("6", "7", "8", "9", "10", "11"), color=_COLORS,
                                                   material=("canvas", "leather"))),
    ProductType("Backpack", (29.99, 199.99), _opts(color=_COLORS, size=("small", "medium", "large"),
                                                   material=("nylon", "polyester", "leather"))),
    ProductType("Water Bottle", (9.99, 49.99), _opts(capacity=("500ml", "750ml", "1000ml"), color=_COLORS,
                                                     material=("stainless steel", "plastic", "glass"))),
    ProductType("Sunglasses", (19.99, 249.99), _opts(frame_color=("black", "brown", "silver", "gold"),
                                                     lens_color=("grey", "green", "brown", "blue"),
                                                     lens_type=("polarized", "non-polarized"))),
    ProductType("Wristwatch", (49.99, 499.99), _opts(strap_material=("leather", "metal", "silicone"),
                                                     dial_color=("black", "white", "blue", "green"),
                                                     case_size=("38mm", "42mm"))),
    ProductType("Smart Watch", (129.99, 449.99), _opts(color=("black", "silver", "gold", "rose gold"),
                                                       band=("silicone", "leather", "metal"),
                                                       display=("AMOLED", "LCD"))),
    ProductType("Wireless Earbuds", (39.99, 279.99), _opts(color=("black", "white", "blue", "red"),
                                                           battery_life=("6 hours", "8 hours", "10 hours"),
                                                           water_resistance=("IPX4", "IPX7", "none"))),
    ProductType("Headphones", (49.99, 399.99), _opts(type=("over-ear", "on-ear", "in-ear"),
                                                     connectivity=("wired", "wireless"),
                                                     color=("black", "white", "blue", "red"))),
    ProductType("Bluetooth Speaker", (29.99, 299.99), _opts(color=("black", "blue", "red", "green", "grey"),
                                                            battery_life=("10 hours", "20 hours"),
                                                            water_resistance=("yes", "no"))),
    ProductType("Laptop", (499.99, 2499.99), _opts(screen_size=("13-inch", "14-inch", "15-inch", "16-inch"),
                                                   processor=("i5", "i7", "i9", "ryzen 7"),
                                                   ram=("8GB", "16GB", "32GB"), storage=("256GB SSD", "512GB SSD",
                                                                                        "1TB SSD"))),
    ProductType("Tablet", (149.99, 1099.99), _opts(screen_size=("8-inch", "10-inch", "12-inch"),
                                                   storage=("64GB", "128GB", "256GB"),
                                                   color=("black", "silver", "gold"))),
    ProductType("Smartphone", (199.99, 1299.99), _opts(color=("black", "white", "blue", "green"),
                                                       storage=("64GB", "128GB", "256GB", "512GB"),
                                                       screen_size=("6.1-inch", "6.7-inch"))),
    ProductType("E-Reader", (79.99, 349.99), _opts(screen_size=("6-inch", "7-inch", "8-inch"),
                                                   connectivity=("Wi-Fi", "Wi-Fi + Cellular"),
                                                   storage=("8GB", "16GB", "32GB"), color=("black", "white"))),
    ProductType("Digital Camera", (299.99, 2999.99), _opts(resolution=("20MP", "24MP", "30MP"),
                                                           zoom=("3x", "5x", "10x"), color=("black", "silver", "grey"))),
    ProductType("Action Camera", (99.99, 499.99), _opts(resolution=("1080p", "4K", "5K"),
                                                        waterproof=("yes", "no"),
                                                        color=("black", "silver", "blue", "orange"))),
    ProductType("Gaming Mouse", (24.99, 149.99), _opts(color=("black", "white", "RGB"),
                                                       sensor=("optical", "laser"), connectivity=("wired",
                                                                                                  "wireless"),
                                                       weight=("light", "standard"))),
    ProductType("Mechanical Keyboard", (59.99, 249.99), _opts(switch_type=("linear", "tactile", "clicky"),
                                                              backlight=("none", "white", "RGB"),
                                                              size=("full size", "80%", "60%"))),
    ProductType("Monitor", (119.99, 999.99), _opts(screen_size=("24-inch", "27-inch", "32-inch"),
                                                   resolution=("1080p", "1440p", "4K"),
                                                   refresh_rate=("60Hz", "144Hz", "240Hz"))),
    ProductType("Desk Lamp", (19.99, 129.99), _opts(color=("black", "white", "silver", "brass"),
                                                    brightness=("low", "medium", "high"),
                                                    power_source=("USB", "AC adapter", "battery"))),
    ProductType("Office Chair", (89.99, 699.99), _opts(material=("mesh", "leather", "fabric"),
                                                       color=("black", "grey", "blue", "red"),
                                                       armrest=("fixed", "adjustable"))),
    ProductType("Standing Desk", (199.99, 899.99), _opts(size=("120 x 60 cm", "140 x 70 cm", "160 x 80 cm"),
                                                         color=("black", "white", "walnut", "oak"),
                                                         motor=("single", "dual"))),
    ProductType("Bookshelf", (49.99, 399.99), _opts(material=("pine", "oak", "metal", "glass"),
                                                    color=("white", "black", "natural"),
                                                    height=("3 ft", "5 ft", "6 ft"))),
    ProductType("Coffee Maker", (29.99, 299.99), _opts(color=("black", "white", "stainless steel"),
                                                       capacity=("4 cups", "8 cups", "12 cups"),
                                                       type=("drip", "pour-over", "single serve"))),
    ProductType("Espresso Machine", (149.99, 1499.99), _opts(pressure=("9 bar", "15 bar", "19 bar"),
                                                             capacity=("1L", "1.5L", "2L"),
                                                             type=("manual", "automatic", "capsule"))),
    ProductType("Electric Kettle", (19.99, 149.99), _opts(capacity=("1L", "1.5L", "1.7L"),
                                                          material=("glass", "stainless steel", "plastic"),
                                                          color=("black", "white", "silver"))),
    ProductType("Blender", (29.99, 449.99), _opts(capacity=("1L", "1.5L", "2L"), piece_count=("2", "4", "6"),
                                                  color=("black", "white", "red"))),
    ProductType("Air Fryer", (59.99, 299.99), _opts(capacity=("3 quarts", "5 quarts", "8 quarts"),
                                                    color=("black", "white", "stainless steel"),
                                                    display=("digital", "dial"), basket=("single", "dual"))),
    ProductType("Vacuum Cleaner", (79.99, 799.99), _opts(type=("upright", "canister", "robotic", "handheld"),
                                                         bagged=("bagged", "bagless"),
                                                         power_source=("cordless", "corded"), color=("black", "red", "white"))),
    ProductType("Air Purifier", (79.99, 599.99), _opts(room_size=("small", "medium", "large"),
                                                       filter_type=("HEPA", "carbon", "ionic"),
                                                       features=("quiet operation", "smart sensors",
                                                                 "night mode"))),
    ProductType("Electric Toothbrush", (24.99, 249.99), _opts(color=("white", "black", "blue", "pink"),
                                                              speed_settings=("low", "high"),
                                                              battery_type=("AA batteries", "rechargeable"),
                                                              brush_heads=("1", "2", "4"))),
    ProductType("Hair Dryer", (19.99, 429.99), _opts(color=("black", "white", "pink", "silver"),
                                                     power=("1200W", "1800W", "2200W"),
                                                     type=("ionic", "ceramic"))),
    ProductType("Yoga Mat", (14.99, 129.99), _opts(thickness=("4mm", "6mm", "8mm"),
                                                   material=("PVC", "natural rubber", "TPE"),
                                                   color=("purple", "blue", "green", "pink", "black"))),
    ProductType("Dumbbell Set", (39.99, 599.99), _opts(weight_range=("5-25 lbs", "30-50 lbs", "55-75 lbs"),
                                                       material=("iron", "rubber", "urethane"),
                                                       set_type=("fixed", "adjustable", "spinlock"))),
    ProductType("Bicycle", (249.99, 2499.99), _opts(frame_size=("small", "medium", "large"),
                                                    color=("black", "red", "blue", "green"),
                                                    type=("road", "mountain", "city"))),
    ProductType("Skateboard", (39.99, 249.99), _opts(deck_material=("maple", "bamboo", "plastic"),
                                                     length=("28 inch", "31 inch", "34 inch"),
                                                     design=("plain", "graphic", "custom"))),
    ProductType("Tent", (69.99, 699.99), _opts(size=("2-person", "4-person", "6-person"),
                                               color=("green", "orange", "blue", "grey"),
                                               season=("3-season", "4-season"))),
    ProductType("Sleeping Bag", (39.99, 399.99), _opts(temperature_rating=("15F", "30F", "40F"),
                                                       insulation=("down", "synthetic"),
                                                       size=("regular", "long", "wide"), color=("green", "blue"))),
    ProductType("Camping Stove", (29.99, 249.99), _opts(fuel_type=("propane", "butane", "wood"),
                                                        burners=("1", "2", "3"),
                                                        weight=("ultralight", "standard"),
                                                        ignition=("manual", "piezo"))),
    ProductType("Garden Hose", (19.99, 119.99), _opts(length=("25 ft", "50 ft", "100 ft"),
                                                      material=("rubber", "vinyl", "latex"),
                                                      color=("green", "black", "blue"))),
    ProductType("Cookware Set", (79.99, 899.99), _opts(material=("stainless steel", "non-stick", "cast iron",
                                                                 "copper"),
                                                       piece_count=("5", "8", "12"),
                                                       color=("black", "silver", "red"))),
    ProductType("Luggage Set", (99.99, 799.99), _opts(piece_count=("2-piece", "3-piece", "4-piece"),
                                                      color=("black", "silver", "blue", "red"),
                                                      material=("hardshell", "softshell"))),
    ProductType("Wallet", (19.99, 199.99), _opts(material=("leather", "canvas", "nylon"),
                                                 style=("bifold", "trifold", "card holder"),
                                                 color=("black", "brown", "tan", "navy"))),
    ProductType("Perfume", (39.99, 349.99), _opts(scent_family=("floral", "woody", "fresh", "oriental"),
                                                  size=("30ml", "50ml", "100ml"),
                                                  gender=("women", "men", "unisex"))),
    ProductType("Jigsaw Puzzle", (9.99, 69.99), _opts(pieces=("500", "1000", "1500", "2000"),
                                                      theme=("animals", "art", "landscape", "fantasy"),
                                                      difficulty=("beginner", "intermediate", "expert"))),
    ProductType("Notebook", (4.99, 39.99), _opts(size=("A4", "A5", "pocket"),
                                                 ruling=("lined", "dotted", "blank", "grid"),
                                                 cover=("hard", "soft"))),
)

assert len(CATALOGUE) == 50, "the default scale mirrors tau-bench's 50 product types"
