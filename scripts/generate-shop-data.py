#!/usr/bin/env python3
"""Generates the demo shop's dataset (crates/isobox-shop/data/shop.json), deterministically."""
import json
import random
from datetime import date, timedelta
from pathlib import Path

rng = random.Random(20261126)
first = ["Ada", "Grace", "Linus", "Barbara", "Alan", "Edsger", "Margaret", "Ken", "Frances", "Donald", "Radia",
         "Dennis", "Hedy", "John", "Katherine", "Niklaus", "Sophie", "Tim", "Anita", "Guido"]
last = ["Lovelace", "Hopper", "Torvalds", "Liskov", "Turing", "Dijkstra", "Hamilton", "Thompson", "Allen", "Knuth",
        "Perlman", "Ritchie", "Lamarr", "McCarthy", "Johnson", "Wirth", "Wilson", "Berners-Lee", "Borg", "van Rossum"]
countries = ["DE", "FR", "GB", "US", "NL", "SE", "ES", "JP"]
tiers = ["standard", "standard", "standard", "gold", "gold", "platinum"]
catalogue = {
    "keyboards": [("Mechanical keyboard", 89.0), ("Low-profile keyboard", 69.0), ("Split keyboard", 179.0)],
    "mice": [("Wireless mouse", 25.5), ("Trackball", 59.9), ("Vertical mouse", 39.0)],
    "monitors": [("27-inch 4K monitor", 329.99), ("34-inch ultrawide", 449.0), ("Portable monitor", 189.0)],
    "audio": [("Headset", 59.0), ("USB microphone", 99.0), ("Desk speakers", 79.5)],
    "storage": [("1 TB SSD", 74.9), ("4 TB HDD", 89.9), ("USB stick 128 GB", 14.5)],
    "cables": [("USB-C cable", 9.99), ("HDMI cable", 12.5), ("Thunderbolt cable", 34.0)],
}

customers = []
for i in range(40):
    name = f"{first[i % len(first)]} {last[(i * 7) % len(last)]}"
    customers.append({
        "id": i + 1,
        "name": name,
        "email": name.lower().replace(" ", ".").replace("-", "") + "@example.com",
        "country": rng.choice(countries),
        "since": (date(2022, 1, 1) + timedelta(days=rng.randrange(1200))).isoformat(),
        "tier": rng.choice(tiers),
    })

products = []
for category, items in catalogue.items():
    for j, (name, price) in enumerate(items):
        products.append({
            "sku": f"{category[:3]}-{j + 1:02d}",
            "name": name,
            "category": category,
            "price": price,
            "stock": rng.randrange(0, 250),
        })

statuses = ["pending", "paid", "shipped", "delivered", "delivered", "delivered", "cancelled", "refunded"]
orders = []
for i in range(400):
    lines = []
    for product in rng.sample(products, rng.randint(1, 4)):
        lines.append({"sku": product["sku"], "quantity": rng.randint(1, 3), "unitPrice": product["price"]})
    orders.append({
        "id": 1000 + i,
        "customerId": rng.randint(1, len(customers)),
        "date": (date(2025, 1, 1) + timedelta(days=rng.randrange(690))).isoformat(),
        "status": rng.choice(statuses),
        "lines": lines,
        "total": round(sum(line["quantity"] * line["unitPrice"] for line in lines), 2),
    })
orders.sort(key=lambda order: (order["date"], order["id"]))

out = Path(__file__).resolve().parent.parent / "crates/isobox-shop/data/shop.json"
out.write_text(json.dumps({"customers": customers, "products": products, "orders": orders}, indent=1) + "\n")
print(f"wrote {out}: {len(customers)} customers, {len(products)} products, {len(orders)} orders")
