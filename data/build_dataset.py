"""Build the project's own support dataset: a fictional online store, Brightcart.

    python data/build_dataset.py      # rewrites data/store/conversations.jsonl (deterministic)

Every answer follows the store's knowledge base (data/knowledge_base/*.md) and uses the details of
its conversation (order numbers, dates, amounts, products, plan names), so answers vary within an
intent: a model must read the question, not just recognise its intent. Some conversations are
multi-turn (the assistant asks for an order number, the customer gives it). Written for this
project; licensed with it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).resolve().parent / "store" / "conversations.jsonl"
rng = random.Random(20261125)

PRODUCTS = [
    "desk lamp",
    "running shoes",
    "wool sweater",
    "coffee grinder",
    "phone case",
    "backpack",
    "yoga mat",
    "bluetooth speaker",
    "ceramic mug set",
    "rain jacket",
    "office chair",
    "blender",
    "winter boots",
    "wireless headphones",
    "bed sheets",
    "water bottle",
    "toaster",
    "sunglasses",
]
ELECTRONICS = [
    "bluetooth speaker",
    "wireless headphones",
    "coffee grinder",
    "blender",
    "toaster",
    "desk lamp",
]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
CITIES = ["Denver", "Austin", "Portland", "Chicago", "Boston", "Seattle", "Atlanta", "Phoenix"]
COUNTRIES = ["Canada", "Germany", "Mexico", "Japan", "the United Kingdom", "Australia", "France", "Spain"]
CARRIERS = ["UPS", "FedEx", "USPS", "DHL"]


def order() -> str:
    return f"BC-{rng.randint(10000, 99999)}"


def date() -> str:
    return f"{rng.choice(MONTHS)} {rng.randint(1, 28)}"


def amount(lo: int = 12, hi: int = 240) -> str:
    return f"${rng.randint(lo, hi)}.{rng.choice(['00', '49', '99', '95', '25'])}"


def product() -> str:
    return rng.choice(PRODUCTS)


def a_(noun: str) -> str:
    """The noun with its indefinite article."""
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def pick(*options: str) -> str:
    return rng.choice(options)


Conv = tuple[str, list[tuple[str, str]]]  # (intent, [(role, text), ...])


def track_order() -> Conv:
    o, p, d, c = order(), product(), date(), rng.choice(CARRIERS)
    q = pick(
        f"Where is my order {o}?",
        f"Can you tell me where my {p} is? Order {o}.",
        f"How do I track order {o}?",
        f"I ordered {a_(p)} on {d}, order {o}. Where is it now?",
    )
    a = pick(
        f"You can follow order {o} under Account > Orders > Track package, which shows the {c} tracking number and the latest scan. Tracking can take up to 24 hours to show the first scan after shipping.",
        f"Order {o} is trackable under Account > Orders > Track package; the same link is in your shipping confirmation email. If the tracking hasn't updated for 3 business days, tell us and we'll open a trace with {c}.",
        f"To see where your {p} is, open Account > Orders, find order {o} and choose Track package. You'll see the carrier ({c}) and every scan so far.",
    )
    return "track_order", [("user", q), ("assistant", a)]


def late_delivery() -> Conv:
    o, p, d, n = order(), product(), date(), rng.choice([3, 4, 5, 6])
    if rng.random() < 0.3:
        q1 = pick(f"My {p} still hasn't arrived.", "My package is late and the tracking isn't moving.")
        a1 = "I'm sorry for the delay. Could you give me your order number so I can check it?"
        q2 = f"It's {o}. Tracking hasn't changed for {n} days."
        a2 = (
            f"Thanks. Since tracking for {o} hasn't updated in {n} business days, I've opened a trace with the carrier. "
            "If they can't find the parcel within 5 business days, we'll reship your order or refund it in full, whichever you prefer."
        )
        return "late_delivery", [("user", q1), ("assistant", a1), ("user", q2), ("assistant", a2)]
    q = pick(
        f"Order {o} was supposed to arrive on {d} and it's still not here.",
        f"My {p} (order {o}) is {n} days late. What's going on?",
        f"Tracking for {o} hasn't updated in {n} days.",
    )
    if n >= 3:
        a = pick(
            f"I'm sorry order {o} is late. Because tracking hasn't moved for {n} days, we'll open a trace with the carrier; if the parcel isn't found within 5 business days we'll reship it or refund you in full.",
            f"Sorry for the wait on your {p}. A tracking number that hasn't updated for 3 business days or more usually means a missed scan, so I'm asking the carrier to locate order {o}. You'll hear from us within 5 business days with a reshipment or a full refund if it can't be found.",
        )
    else:
        a = f"I'm sorry order {o} is running late. Carriers sometimes need an extra business day; if tracking still hasn't moved after 3 business days, contact us and we'll open a trace."
    return "late_delivery", [("user", q), ("assistant", a)]


def return_item() -> Conv:
    o, p, plus = order(), product(), rng.random() < 0.3
    days = 60 if plus else 30
    who = "As a Brightcart Plus member you have 60 days" if plus else "You have 30 days from delivery"
    q = pick(
        f"I want to return the {p} from order {o}.",
        f"How do I return my {p}? It doesn't fit/suit me.",
        f"Can I still return the {p} I got last week? Order {o}." + (" I'm a Plus member." if plus else ""),
        f"I'd like to send back order {o}." + (" I have Plus." if plus else ""),
    )
    a = pick(
        f"{who} to return unused items. Go to Account > Orders, choose Return item next to order {o}, pick a reason and print the free return label; drop the parcel off within 7 days.",
        f"Of course. The {p} can be returned within {days} days of delivery if it's unused with its tags. Start the return under Account > Orders > Return item for order {o} and use the free prepaid label.",
        f"Returning the {p} is free: open order {o} under Account > Orders, choose Return item and print the label. Your refund starts when the parcel is scanned at our warehouse. The return window is {days} days from delivery.",
    )
    return "return_item", [("user", q), ("assistant", a)]


def refund_status() -> Conv:
    o, amt, d, n = order(), amount(), date(), rng.choice([3, 6, 8, 12, 15])
    q = pick(
        f"When will I get my refund of {amt} for order {o}?",
        f"I returned order {o} on {d} and haven't seen the {amt} refund yet.",
        f"It's been {n} business days since you received my return ({o}). Where's my refund?",
    )
    if n >= 10 and "business days since" in q:
        a = f"Sorry for the wait. Refunds normally arrive within 5 to 7 business days after we scan the return, so {n} business days is too long. I've escalated the refund for order {o}; you'll get a confirmation email within 1 business day."
    else:
        a = pick(
            f"Your refund of {amt} for order {o} goes back to your original payment method within 5 to 7 business days after the return is scanned at our warehouse. We'll email you when it's issued; your bank may take 2 to 3 more business days.",
            f"Refunds are issued within 5 to 7 business days of the warehouse scan, to the card or account you paid with. For order {o} that's {amt}; if 10 business days pass after delivery of your return with nothing, contact us and we'll escalate it.",
        )
    return "refund_status", [("user", q), ("assistant", a)]


def damaged_item() -> Conv:
    o, p = order(), product()
    q = pick(
        f"The {p} from order {o} arrived broken.",
        f"My {p} came damaged, the box was crushed. Order {o}.",
        f"I received the wrong item in order {o}: I ordered {a_(p)}.",
        f"My {p} is defective out of the box.",
    )
    wrong = "wrong item" in q
    thing = "the wrong item" if wrong else f"the damaged {p}"
    a = pick(
        f"I'm sorry about {thing}. Please report it within 14 days of delivery under Account > Orders > Report a problem"
        + (f" for order {o}" if o in q else "")
        + ", with a photo of the item and packaging. We'll send a free replacement or a full refund including shipping, usually within 2 business days.",
        f"Sorry that happened! Use Report a problem next to "
        + (f"order {o}" if o in q else "the order")
        + f" under Account > Orders and attach a photo. You can choose a replacement {p} or a full refund, and you don't need to send the item back unless we ask.",
    )
    return "damaged_item", [("user", q), ("assistant", a)]


def cancel_order() -> Conv:
    o, minutes, shipped = order(), rng.choice([10, 25, 45, 90]), rng.random() < 0.35
    q = pick(
        f"Please cancel order {o}.",
        f"I placed order {o} {minutes} minutes ago, can I still cancel it?",
        f"How do I cancel my order {o}?",
    )
    if shipped:
        q = pick(
            f"Order {o} has already shipped but I want to cancel it.",
            f"Can I cancel {o}? The tracking says it shipped.",
        )
        a = f"Once an order has shipped it can't be cancelled, but you can return order {o} for free when it arrives: choose Return item under Account > Orders and you'll be refunded after we receive it."
    else:
        a = pick(
            f"You can cancel order {o} under Account > Orders > Cancel order as long as it hasn't shipped, which usually happens within 2 hours of purchase. A cancelled order is refunded in full within 3 business days.",
            f"If order {o} hasn't shipped yet, choose Cancel order next to it under Account > Orders. The full amount comes back within 3 business days.",
        )
    return "cancel_order", [("user", q), ("assistant", a)]


def change_address() -> Conv:
    o, city = order(), rng.choice(CITIES)
    q = pick(
        f"Can I change the delivery address for order {o} to my office in {city}?",
        f"I need to ship order {o} to a different address in {city}.",
        f"Wrong address on {o}! How do I fix it?",
    )
    a = pick(
        f"If order {o} hasn't shipped yet, you can change the address under Account > Orders > Edit order. After it ships we can't change it, but you can ask the carrier to hold the parcel at a pickup point in {city} through the tracking link.",
        f"Yes, as long as {o} hasn't left our warehouse: open Edit order under Account > Orders and enter the new address. If it has already shipped, use the tracking link to redirect it to a pickup point.",
    )
    if city not in q:
        a = a.replace(f" in {city}", "")
    return "change_address", [("user", q), ("assistant", a)]


def payment_declined() -> Conv:
    card = rng.choice(["Visa", "Mastercard", "American Express"])
    amt = amount(30, 400)
    q = pick(
        f"My {card} keeps getting declined at checkout.",
        f"Why was my card declined for a {amt} order?",
        f"Payment failed with my {card}, what can I do?",
    )
    a = pick(
        f"Sorry about that. Please check that the card number, expiry date and billing address match your bank's records. If they do, your bank may have blocked the online payment: approve it with them, or pay with PayPal, Apple Pay or another card.",
        f"A declined {card} usually means the billing address or expiry date doesn't match, or the bank blocked an online payment. Double-check the details, ask your bank to approve the charge, or use PayPal or Apple Pay instead.",
    )
    if card not in q:
        a = a.replace(f"A declined {card}", "A declined card")
    return "payment_declined", [("user", q), ("assistant", a)]


def duplicate_charge() -> Conv:
    o, amt, d = order(), amount(), date()
    if rng.random() < 0.3:
        q1 = "I was charged twice for the same order."
        a1 = "I'm sorry about that. Could you tell me the order number and the amount of the charges?"
        q2 = f"Order {o}, two charges of {amt} on {d}."
        a2 = (
            f"Thanks. The second {amt} charge on order {o} is most likely a temporary authorization hold, which disappears within 3 business days. "
            "If both are still there after that, reply here and we'll refund the duplicate within 5 business days."
        )
        return "duplicate_charge", [("user", q1), ("assistant", a1), ("user", q2), ("assistant", a2)]
    q = pick(
        f"I see two charges of {amt} for order {o}.",
        f"You charged me twice on {d} for {o}!",
        f"Why was I billed {amt} two times?",
    )
    a = pick(
        f"Sorry for the confusion. A second charge of {amt} is usually a temporary authorization hold that drops off within 3 business days. If both charges remain after that, send us the order number and we'll refund the duplicate within 5 business days.",
        f"I understand the worry. For order {o}, one of the charges is most likely an authorization hold that disappears within 3 business days; if it doesn't, we refund a confirmed duplicate within 5 business days.",
    )
    if o not in q:
        a = a.replace(f"For order {o}, one", "One")
    return "duplicate_charge", [("user", q), ("assistant", a)]


def invoice_request() -> Conv:
    o, company = (
        order(),
        rng.choice(["Acme Design LLC", "Riverside Dental", "Northpeak Studio", "Bluefin Labs"]),
    )
    q = pick(
        f"Can I get an invoice for order {o}?",
        f"I need an invoice with my company name {company} on it for {o}.",
        "Where do I download my receipt?",
    )
    if company in q:
        a = f"Add {company} (and your VAT number if needed) under Account > Billing details, then download the invoice for order {o} under Account > Orders > Download invoice. Invoices can be regenerated at any time."
    else:
        a = pick(
            f"Every order has a PDF invoice under Account > Orders > Download invoice"
            + (f"; open order {o} and choose it there." if o in q else "."),
            "You can download a PDF invoice for any order under Account > Orders > Download invoice. To add a company name or VAT number, update Account > Billing details first.",
        )
    return "invoice_request", [("user", q), ("assistant", a)]


def plus_membership() -> Conv:
    plan = rng.choice(["monthly", "yearly"])
    q = pick(
        "What do I get with Brightcart Plus?",
        f"How much is the {plan} Plus plan?",
        "Is Brightcart Plus worth it? What does it include?",
        "Is there a free trial for Plus?",
    )
    price = "$8 per month" if plan == "monthly" else "$80 per year"
    if "free trial" in q:
        a = "Yes, every account can try Brightcart Plus free for 30 days once. After the trial it's $8 per month or $80 per year, with free express shipping, early access to sales and 60-day returns."
    elif plan in q:
        a = f"The {plan} Brightcart Plus plan costs {price}. It includes free express shipping on every order, early access to sales and 60-day returns instead of 30."
    else:
        a = pick(
            "Brightcart Plus costs $8 per month or $80 per year and gives you free express shipping on every order, early access to sales and 60-day returns instead of 30.",
            "Plus members get free express shipping (1 to 2 business days) on all orders, early sale access and a 60-day return window. It's $8 a month or $80 a year, with a 30-day free trial for new members.",
        )
    return "plus_membership", [("user", q), ("assistant", a)]


def cancel_membership() -> Conv:
    plan, days = rng.choice(["monthly", "yearly"]), rng.choice([3, 10, 20, 40])
    q = pick(
        f"How do I cancel my {plan} Plus membership?",
        f"Cancel my Plus please, it renewed {days} days ago.",
        "I want to stop paying for Brightcart Plus.",
    )
    if "renewed" in q:
        if days <= 14:
            a = f"You can cancel under Account > Membership > Cancel Plus. Since your plan renewed {days} days ago, a yearly renewal is refunded in full (within 14 days); a monthly plan keeps its benefits until the period ends."
        else:
            a = f"Cancel under Account > Membership > Cancel Plus. Your renewal was {days} days ago, so it isn't refundable, but you keep free express shipping and 60-day returns until the end of the paid period and won't be charged again."
    else:
        a = pick(
            f"Go to Account > Membership > Cancel Plus. You keep your {plan} plan's benefits until the end of the paid period and won't be charged again.",
            "You can cancel Brightcart Plus any time under Account > Membership > Cancel Plus; benefits last until the end of the period you've paid for.",
        )
    return "cancel_membership", [("user", q), ("assistant", a)]


def password_reset() -> Conv:
    q = pick(
        "How do I change my password?",
        "I forgot my password.",
        "The password reset link doesn't work.",
        "How can I turn on two-factor authentication?",
    )
    if "forgot" in q:
        a = "Use Forgot password on the sign-in page and we'll email you a reset link, valid for 1 hour. If it doesn't arrive, check your spam folder."
    elif "link" in q:
        a = "Reset links expire after 1 hour and work only once. Request a new one with Forgot password on the sign-in page and open the newest email."
    elif "two-factor" in q:
        a = "Turn on two-factor authentication under Account > Security. After that, signing in asks for a code from your phone as well as your password."
    else:
        a = "Go to Account > Security > Change password, enter your current password and the new one twice. If you don't remember the current one, use Forgot password on the sign-in page."
    return "password_reset", [("user", q), ("assistant", a)]


def account_locked() -> Conv:
    n = rng.choice([5, 6, 8])
    mins = rng.choice([5, 10, 20, 45])
    q = pick(
        f"My account is locked after {n} wrong passwords.",
        "I can't log in, it says my account is locked.",
        "Locked out of my account, help!",
        f"My account got locked {mins} minutes ago. When can I try again?",
    )
    if "minutes ago" in q:
        left = 30 - mins
        a = (
            f"The lock lasts 30 minutes after 5 failed attempts, so you can try again in about {left} minutes. "
            "If you're not sure of the password, use Forgot password on the sign-in page."
            if left > 0
            else "The 30-minute lock has already expired, so you can sign in now; if the password still fails, use Forgot password to get a reset link."
        )
    else:
        a = pick(
            "For your security, the account locks for 30 minutes after 5 failed sign-in attempts. Wait 30 minutes, then sign in or use Forgot password to get a reset link.",
            "Sorry you're locked out. After 5 failed attempts the account is locked for 30 minutes; after that you can sign in again, or reset your password with Forgot password on the sign-in page.",
            f"That lock happens after 5 failed sign-ins{' (you had ' + str(n) + ')' if str(n) in q else ''} and lifts by itself after 30 minutes. To avoid another lock, reset the password with Forgot password, and consider turning on two-factor authentication under Account > Security.",
        )
    return "account_locked", [("user", q), ("assistant", a)]


def delete_account() -> Conv:
    o = order()
    q = pick(
        "How do I delete my account?",
        "Please remove all my data.",
        "I want to close my Brightcart account.",
        f"Delete my account, but I still have order {o} on the way.",
    )
    if o in q:
        a = f"Open orders must be delivered or cancelled before an account can be deleted, so wait until order {o} arrives (or cancel it), then request deletion under Account > Privacy > Delete my account. Your data is removed within 30 days."
        return "delete_account", [("user", q), ("assistant", a)]
    a = pick(
        "Request deletion under Account > Privacy > Delete my account and confirm the email we send. Open orders must be delivered or cancelled first; your data is removed within 30 days, except order records we must keep for 7 years for tax purposes.",
        "You can close your account under Account > Privacy > Delete my account. We remove your personal data within 30 days of your confirmation; invoices and order records are kept for 7 years as tax law requires.",
    )
    return "delete_account", [("user", q), ("assistant", a)]


def price_match() -> Conv:
    o, p, old, new, days = order(), product(), rng.randint(40, 150), 0, rng.choice([3, 9, 13, 20])
    new = old - rng.randint(5, 30)
    q = f"I bought {a_(p)} for ${old} {days} days ago (order {o}) and now it's ${new}. Can I get the difference?"
    if days <= 14:
        a = f"Yes: the price dropped within 14 days of your purchase, so we'll refund the ${old - new} difference for the {p} on order {o}. It goes back to your original payment method within 5 to 7 business days."
    else:
        a = f"I'm sorry, price adjustments apply only within 14 days of purchase, and order {o} was placed {days} days ago. If the {p} is unused you could return it within the return window and buy it again at ${new}."
    return "price_match", [("user", q), ("assistant", a)]


def gift_card_balance() -> Conv:
    amt = amount(10, 150)
    q = pick(
        "How do I check my gift card balance?",
        f"Does my {amt} gift card expire?",
        "Can I get cash for my gift card?",
    )
    if "expire" in q:
        a = f"No, Brightcart gift cards never expire and have no fees, so your {amt} stays available. You can check the balance under Account > Gift cards."
    elif "cash" in q:
        a = "Gift cards can't be exchanged for cash or used to buy other gift cards, but they never expire, so you can use the balance on any future order."
    else:
        a = "You'll find the balance under Account > Gift cards. Brightcart gift cards never expire and have no fees."
    return "gift_card_balance", [("user", q), ("assistant", a)]


def warranty_claim() -> Conv:
    p, o, months = rng.choice(ELECTRONICS), order(), rng.choice([2, 5, 9, 14])
    q = f"My {p} stopped working after {months} months. Order {o}. Is it under warranty?"
    if months < 12:
        a = f"Yes, electronics have a 1-year warranty from delivery, so your {p} is covered. Report the fault under Account > Orders > Report a problem for order {o}, and we'll repair, replace or refund it."
    else:
        a = f"I'm sorry, the warranty on electronics lasts 1 year from delivery, and your {p} is {months} months old, so it's no longer covered. Our support team can still suggest repair options."
    return "warranty_claim", [("user", q), ("assistant", a)]


def promo_code() -> Conv:
    code = rng.choice(["SPRING10", "WELCOME15", "FALL20", "SAVE5NOW"])
    q = pick(
        f"My promo code {code} says it's not valid.",
        f"Can I use {code} together with another code?",
        f"Where do I enter the code {code}?",
    )
    if "together" in q:
        a = f"Only one promo code can be used per order, so {code} can't be combined with another code. Codes also can't be applied to gift cards."
    elif "Where" in q:
        a = f"Enter {code} in the Promo code field at checkout, before you pay. One code per order."
    else:
        a = f"I'm sorry, support can't re-activate an expired or invalid code like {code}. If you subscribe to our newsletter you'll get a new 10% code every month."
    return "promo_code", [("user", q), ("assistant", a)]


def shipping_options() -> Conv:
    total = rng.choice([25, 38, 49, 55, 80, 120])
    q = pick(
        f"How much is shipping on a ${total} order?",
        "How long does delivery take?",
        "Do you have same-day delivery?",
        f"My cart is ${total}. Do I get free shipping?",
    )
    if "same-day" in q:
        a = "Same-day delivery is available in selected cities for $14.99 if you order before 11 am. Otherwise, express takes 1 to 2 business days and standard 3 to 5."
    elif "long" in q:
        a = "Standard shipping takes 3 to 5 business days, express 1 to 2 business days. Orders placed before 2 pm Eastern on a business day leave our warehouse the same day."
    elif total > 50:
        a = f"Yes, standard shipping (3 to 5 business days) is free on orders over $50, so your ${total} order ships free. Express is $9.99."
    else:
        a = f"Standard shipping on a ${total} order is $4.99 (3 to 5 business days); add ${50 - total} more to get free standard shipping. Express costs $9.99."
    return "shipping_options", [("user", q), ("assistant", a)]


def international_shipping() -> Conv:
    country, total = rng.choice(COUNTRIES), rng.choice([45, 90, 130, 210])
    q = pick(
        f"Do you ship to {country}?",
        f"How long does shipping to {country} take for a ${total} order?",
        f"Will I pay customs fees on delivery in {country}?",
    )
    if "customs" in q:
        a = f"No surprises on delivery: import duties and taxes for {country} are calculated and shown at checkout, so nothing is due when the parcel arrives."
    else:
        free = " and it ships free because it's over $100" if total > 100 and str(total) in q else ""
        a = f"Yes, we ship to {country}. International delivery takes 7 to 14 business days{free}, and duties are shown at checkout."
    return "international_shipping", [("user", q), ("assistant", a)]


def app_issue() -> Conv:
    device = rng.choice(["iPhone", "Android phone", "iPad", "laptop"])
    q = pick(
        f"The app keeps crashing on my {device}.",
        f"Checkout won't load on my {device}.",
        "I can't add items to my cart on the website.",
    )
    a = pick(
        f"Sorry about that. Please update the app (or refresh the page), restart your {device}, and disable ad blockers for brightcart.com, which can block checkout. Your cart is saved to your account, so nothing is lost.",
        f"Let's fix it: 1) update the app or refresh the page, 2) restart your {device} or clear the browser cache, 3) reinstall the app if it still fails. If it continues, tell us your app version and what you see.",
    )
    if device not in q:
        a = a.replace(f"your {device}", "your device")
    return "app_issue", [("user", q), ("assistant", a)]


def human_agent() -> Conv:
    q = pick(
        "I want to talk to a real person.",
        "Can I speak to a human agent?",
        "Connect me to customer service please.",
        "Stop, I need a human.",
        "Is there a phone number or a person I can talk to?",
    )
    a = pick(
        "I'll connect you with a person. Our support team replies within 4 business hours; live chat runs 8 am to 8 pm Eastern, Monday to Saturday, and email replies come within 24 hours.",
        "Of course. I'm handing this conversation to a member of our support team, who will reply here within 4 business hours. Live chat is open 8 am to 8 pm Eastern, Monday to Saturday.",
        "Sure, I'm passing you to a human agent now; expect a reply within 4 business hours.",
    )
    return "human_agent", [("user", q), ("assistant", a)]


def complaint() -> Conv:
    o = order()
    q = pick(
        f"This is the third time order {o} is late. I want to file a complaint.",
        "Your service is terrible and I want to complain.",
        f"I'm very unhappy with how order {o} was handled.",
        f"I want to make a formal complaint about order {o}.",
    )
    a = pick(
        f"I understand, and I'm sorry. I've logged a formal complaint"
        + (f" for order {o}" if o in q else "")
        + "; our customer care team will reply within 1 business day.",
        "I'm truly sorry. I've recorded your complaint and passed it to our customer care team, who will contact you within 1 business day with a resolution."
        + (f" I've attached order {o} to it." if o in q else ""),
        "I'm sorry we let you down. Your complaint is now with our customer care team; they answer complaints within 1 business day.",
    )
    return "complaint", [("user", q), ("assistant", a)]


BUILDERS: dict[str, tuple[str, Callable[[], Conv]]] = {
    f.__name__: (cat, f)
    for cat, fs in {
        "ORDER": [track_order, late_delivery, cancel_order, change_address],
        "RETURNS": [return_item, refund_status, damaged_item, warranty_claim],
        "PAYMENT": [
            payment_declined,
            duplicate_charge,
            invoice_request,
            price_match,
            gift_card_balance,
            promo_code,
        ],
        "ACCOUNT": [password_reset, account_locked, delete_account],
        "MEMBERSHIP": [plus_membership, cancel_membership],
        "SHIPPING": [shipping_options, international_shipping],
        "TECHNICAL": [app_issue],
        "CONTACT": [human_agent, complaint],
    }.items()
    for f in fs
}
PER_INTENT = {
    "human_agent": 14,
    "complaint": 16,
    "account_locked": 16,
    "delete_account": 14,
    "password_reset": 8,
}


def build() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for name, (category, builder) in BUILDERS.items():
        seen: set[str] = set()
        attempts = 0
        while sum(1 for r in rows if r["intent"] == name) < PER_INTENT.get(name, 20) and attempts < 400:
            attempts += 1
            intent, turns = builder()
            key = json.dumps(turns)
            if key in seen:
                continue
            seen.add(key)
            rows.append(
                {
                    "id": f"{name}-{len(seen):03d}",
                    "intent": intent,
                    "category": category,
                    "messages": [{"role": role, "content": text} for role, text in turns],
                }
            )
    return rows


def main() -> None:
    rows = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    answers = [m["content"] for r in rows for m in r["messages"] if m["role"] == "assistant"]  # type: ignore[index]
    intents = {r["intent"] for r in rows}
    multi = sum(1 for r in rows if len(r["messages"]) > 2)  # type: ignore[arg-type]
    print(
        f"{len(rows)} conversations, {len(intents)} intents, {multi} multi-turn, "
        f"{len(set(answers))}/{len(answers)} distinct assistant turns -> {OUT}"
    )


if __name__ == "__main__":
    main()
