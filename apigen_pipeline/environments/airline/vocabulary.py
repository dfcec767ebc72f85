"""Fixed word lists the airline data generator draws from (ours; realistic, not copied from any dataset)."""

from __future__ import annotations

# (IATA code, city, state, airport name, latitude, longitude, hub weight, zip prefix of the city)
AIRPORTS: tuple[tuple[str, str, str, str, float, float, int, str], ...] = (
    ("ATL", "Atlanta", "GA", "Hartsfield-Jackson Atlanta International", 33.64, -84.43, 10, "303"),
    ("BOS", "Boston", "MA", "Logan International", 42.36, -71.01, 6, "021"),
    ("CLT", "Charlotte", "NC", "Charlotte Douglas International", 35.21, -80.94, 6, "282"),
    ("DEN", "Denver", "CO", "Denver International", 39.86, -104.67, 9, "802"),
    ("DFW", "Dallas", "TX", "Dallas/Fort Worth International", 32.90, -97.04, 9, "752"),
    ("DTW", "Detroit", "MI", "Detroit Metropolitan Wayne County", 42.21, -83.35, 5, "482"),
    ("EWR", "Newark", "NJ", "Newark Liberty International", 40.69, -74.17, 6, "071"),
    ("IAH", "Houston", "TX", "George Bush Intercontinental", 29.99, -95.34, 7, "770"),
    ("JFK", "New York", "NY", "John F. Kennedy International", 40.64, -73.78, 8, "100"),
    ("LAS", "Las Vegas", "NV", "Harry Reid International", 36.08, -115.15, 6, "891"),
    ("LAX", "Los Angeles", "CA", "Los Angeles International", 33.94, -118.41, 9, "900"),
    ("LGA", "New York", "NY", "LaGuardia", 40.78, -73.87, 5, "100"),
    ("MCO", "Orlando", "FL", "Orlando International", 28.43, -81.31, 6, "328"),
    ("MIA", "Miami", "FL", "Miami International", 25.79, -80.29, 6, "331"),
    ("MSP", "Minneapolis", "MN", "Minneapolis-Saint Paul International", 44.88, -93.22, 5, "554"),
    ("ORD", "Chicago", "IL", "O'Hare International", 41.98, -87.90, 10, "606"),
    ("PHL", "Philadelphia", "PA", "Philadelphia International", 39.87, -75.24, 5, "191"),
    ("PHX", "Phoenix", "AZ", "Phoenix Sky Harbor International", 33.43, -112.01, 6, "850"),
    ("SEA", "Seattle", "WA", "Seattle-Tacoma International", 47.45, -122.31, 7, "981"),
    ("SFO", "San Francisco", "CA", "San Francisco International", 37.62, -122.38, 8, "941"),
)

FIRST_NAMES = (
    "Aarav", "Abigail", "Adebayo", "Aisha", "Alejandro", "Amara", "Amelia", "Ana", "Andrei", "Anika",
    "Benjamin", "Bianca", "Camila", "Carlos", "Chen", "Chloe", "Daniel", "Deepa", "Diego", "Elena",
    "Elif", "Emily", "Emma", "Ethan", "Fatima", "Gabriel", "Grace", "Hana", "Hiroshi", "Ibrahim",
    "Isabella", "Ivan", "Jamal", "James", "Javier", "Jin", "Julia", "Kai", "Kavya", "Kenji",
    "Laila", "Liam", "Lucas", "Lucia", "Malik", "Maria", "Mason", "Mei", "Mia", "Mohamed",
    "Nadia", "Noah", "Nora", "Olivia", "Omar", "Priya", "Rafael", "Ravi", "Rosa", "Sakura",
    "Samuel", "Sara", "Sebastian", "Sofia", "Tariq", "Thomas", "Valentina", "Wei", "Yara", "Yusuf",
    "Zainab", "Zoe", "Harper", "Evelyn", "Lena", "Mateo", "Owen", "Ruth", "Victor", "Ingrid",
)
LAST_NAMES = (
    "Anderson", "Ahmed", "Alvarez", "Bauer", "Brown", "Castillo", "Chen", "Clark", "Costa", "Davis",
    "Diaz", "Dubois", "Edwards", "Fischer", "Garcia", "Gonzalez", "Gupta", "Hall", "Hansen", "Hernandez",
    "Hoang", "Ibrahim", "Ito", "Jackson", "Johnson", "Kim", "Kowalski", "Kumar", "Lee", "Lewis",
    "Li", "Lopez", "Martin", "Martinez", "Moore", "Morales", "Muller", "Nakamura", "Nguyen", "Novak",
    "Okafor", "Olsen", "Patel", "Perez", "Petrov", "Popescu", "Ramirez", "Reyes", "Rossi", "Santos",
    "Sato", "Schmidt", "Silva", "Singh", "Smith", "Sullivan", "Tanaka", "Taylor", "Thomas", "Thompson",
    "Torres", "Tran", "Walker", "Wang", "White", "Williams", "Wilson", "Wright", "Yamamoto", "Young",
)
STREET_NAMES = (
    "Maple", "Oak", "Cedar", "Pine", "Elm", "Willow", "Lakeview", "Sunset", "Hillcrest", "Park",
    "Washington", "Lincoln", "Jefferson", "Madison", "Franklin", "Highland", "River", "Spring", "Meadow",
    "Forest", "Church", "Mill", "Chestnut", "Walnut", "Broad", "Market", "Union", "Prospect", "Ridge", "Main",
)
STREET_SUFFIXES = ("Street", "Avenue", "Road", "Lane", "Drive", "Court", "Boulevard", "Way", "Place", "Terrace")
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")
CARD_BRANDS = ("visa", "mastercard", "amex", "discover")
CERTIFICATE_AMOUNTS = (100.0, 150.0, 200.0, 250.0, 300.0, 500.0)
