"""Three captions per clip in InterHuman's style ("one person ..., the other ..."), from per-type templates
with synonyms. Side words come from the motion's parameters and are always lower-case, so the loaders'
case-sensitive left/right swap for mirrored clips stays correct."""
import itertools
import re

# Each entry: (condition, template). Condition: None, "key" (truthy), "!key" (falsy) or "key=value".
TEMPLATES = {
    "handshake": [
        (None, "{one} reaches out {his} {side} hand and {other} shakes it."),
        (None, "{two} shake hands with their {side} hands."),
        (None, "{one} and {other} greet each other with a handshake."),
        (None, "{one} extends {his} {side} hand to {other}, and they shake hands."),
        (None, "{two} stand face to face and shake {side} hands."),
        (None, "{one} offers a {side}-handed handshake and {other} accepts it."),
        ("approach=both", "{two} walk toward each other and shake hands with their {side} hands."),
        ("approach=both", "{two} approach each other and shake hands."),
        ("approach=first", "{one} walks up to {other} and shakes hands with the {side} hand."),
        ("approach=second", "{one} waits while {other} walks over, then they shake {side} hands."),
        ("long", "{two} shake hands for a long time with their {side} hands."),
    ],
    "high_five": [
        (None, "{two} give each other a high five with their {side} hands."),
        (None, "{one} raises {his} {side} hand and {other} high-fives it."),
        (None, "{one} and {other} slap their raised {side} hands together."),
        (None, "{two} lift their {side} hands and clap them together above their heads."),
        (None, "{one} high-fives {other} with the {side} hand."),
        ("approach", "{two} walk up to each other and high-five with their {side} hands."),
    ],
    "hug": [
        (None, "{two} hug each other."),
        (None, "{one} opens {his} arms and hugs {other}."),
        (None, "{two} embrace each other warmly."),
        (None, "{one} and {other} wrap their arms around each other."),
        (None, "{one} hugs {other}, and {other} hugs back."),
        ("approach=both", "{two} walk towards each other and hug."),
        ("approach=first", "{one} walks up to {other} and gives {him} a hug."),
        ("approach=second", "{one} waits as {other} comes over, and they hug."),
        ("long", "{two} hold each other in a long hug."),
    ],
    "push": [
        ("both", "{one} pushes {other} away with both hands."),
        ("both", "{one} steps forward and pushes {other} with both hands."),
        ("both", "{one} shoves {other} in the chest, and {other} stumbles backward."),
        (None, "{one} pushes {other}, who staggers back."),
        ("!both", "{one} pushes {other} with {his} {side} hand."),
        ("!both", "{one} shoves {other} backward using the {side} hand."),
        ("!both", "{one} pushes the chest of {other} with {his} {side} palm, and {other} steps back."),
        ("far", "{one} pushes {other} hard, and {other} stumbles back several steps."),
    ],
    "punch": [
        (None, "{one} punches at {other} with {his} {side} fist, and {other} blocks it."),
        (None, "{one} throws a {side} punch at the face of {other}, and {other} raises both arms to block."),
        (None, "{one} attacks {other} with a {side} punch while {other} guards {his2} head."),
        (None, "{two} fight; {one} punches with the {side} hand and {other} defends."),
        ("count=2", "{one} punches {other} twice with the {side} hand, and {other} blocks both punches."),
    ],
    "kick": [
        (None, "{one} kicks {other} with {his} {side} leg, and {other} steps back."),
        (None, "{one} lifts {his} {side} leg and kicks toward {other}, who blocks with both hands."),
        (None, "{one} performs a {side} front kick at {other}."),
        (None, "{one} kicks at {other} with the {side} foot while {other} dodges backward."),
        ("high", "{one} kicks high with the {side} leg toward the chest of {other}."),
    ],
    "hand_over": [
        (None, "{one} hands an object to {other} with {his} {side} hand."),
        (None, "{one} passes something to {other}, who takes it with both hands."),
        (None, "{one} gives {other} an item using the {side} hand, and {other} receives it with both hands."),
        (None, "{one} holds out an object in {his} {side} hand and {other} takes it."),
        ("approach=first", "{one} walks over to {other} and hands {him} something with the {side} hand."),
        ("approach=both", "{two} walk toward each other, and {one} hands {other} an object."),
    ],
    "pat_shoulder": [
        (None, "{one} pats {other} on the {pside} shoulder with {his} {side} hand."),
        (None, "{one} puts {his} {side} hand on the {pside} shoulder of {other} and pats it."),
        (None, "{one} comforts {other} by patting {his2} shoulder."),
        (None, "{one} taps the {pside} shoulder of {other} {count} with the {side} hand."),
        (None, "{one} pats the shoulder of {other}, and {other} lowers {his2} head."),
    ],
    "dance": [
        (None, "{two} hold hands and dance in a circle {direction}."),
        (None, "{two} join both hands and spin around together {direction}."),
        (None, "{one} and {other} hold each other's hands and turn {direction} in a circle."),
        (None, "{two} dance holding hands, rotating {direction}."),
        (None, "{two} dance together hand in hand."),
        ("fast", "{two} hold hands and spin quickly {direction}."),
    ],
    "wave": [
        ("back", "{one} waves {his} {side} hand at {other}, and {other} waves back with the {side2} hand."),
        ("back", "{one} waves at {other} with the {side} hand, and {other} returns the wave."),
        ("back", "{one} raises {his} {side} hand and waves, and {other} waves back."),
        (None, "{two} wave to each other from a distance."),
        ("!back", "{two} wave at each other at the same time."),
        ("!back", "{one} and {other} greet each other by waving their hands."),
        ("!back", "{one} waves with the {side} hand while {other} waves with the {side2} hand."),
    ],
    "bow": [
        (None, "{two} bow to each other."),
        (None, "{two} greet each other with a bow."),
        (None, "{one} and {other} face each other and bow politely."),
        ("!together", "{one} bows to {other}, and {other} bows back."),
        ("together", "{two} bow to each other at the same time."),
        ("deep", "{two} bow deeply to each other."),
    ],
    "walk_towards": [
        (None, "{two} walk toward each other."),
        (None, "{two} approach each other from a distance."),
        (None, "{two} come closer to each other until they meet."),
        (None, "starting far apart, {two} walk up to each other."),
        ("stop", "{one} and {other} walk towards each other and stop face to face."),
        ("fast", "{two} walk quickly toward each other."),
    ],
    "side_by_side": [
        (None, "{two} walk side by side."),
        (None, "{one} walks on the {side} of {other}."),
        (None, "{two} walk forward together, side by side."),
        (None, "{one} and {other} stroll next to each other."),
        (None, "{one} walks alongside {other}, staying on {his2} {side}."),
        ("turn", "{two} walk side by side and turn to the {turn}."),
        ("fast", "{two} walk briskly side by side."),
    ],
    "chase": [
        (None, "{one} chases {other}."),
        (None, "{one} runs after {other}."),
        (None, "{one} chases {other}, who runs away."),
        (None, "{two} run; {one} is chasing {other}."),
        (None, "{one} sprints after {other}, trying to catch {him}."),
        ("caught", "{one} runs after {other} and catches up."),
    ],
}

WORDS = {
    "one": ["one person", "a person", "the first person"],
    "other": ["the other person", "the other", "the second person"],
    "two": ["two people", "two persons", "the two people", "both people"],
}
PRONOUNS = {"m": ("his", "him"), "f": ("her", "her")}
COUNT_WORDS = {2: "twice", 3: "three times", 4: "four times"}
SIDE_WORDS = ("left", "right")


def _matches(cond, params):
    if cond is None:
        return True
    if cond.startswith("!"):
        return not params.get(cond[1:])
    if "=" in cond:
        key, value = cond.split("=", 1)
        return str(params.get(key)) == value
    return bool(params.get(cond))


def _finish(text):
    text = re.sub(r"\s+", " ", text).strip()
    return text[0].upper() + text[1:]


def slot_values(params, genders):
    """Fixed words of one clip: sides, direction, pronouns (one gender per person)."""
    side = params.get("side")
    v = {"his": PRONOUNS[genders[0]][0], "him": PRONOUNS[genders[0]][1], "his2": PRONOUNS[genders[1]][0]}
    if side is not None:
        v["side"] = SIDE_WORDS[side]
    for key in ("side2", "partner_side"):
        if params.get(key) is not None:
            v["side2" if key == "side2" else "pside"] = SIDE_WORDS[params[key]]
    for key in ("direction", "turn"):
        if params.get(key):
            v[key] = params[key]
    if params.get("count") in COUNT_WORDS:
        v["count"] = COUNT_WORDS[params["count"]]
    return v


def make_captions(kind, params, rng, n=3):
    """n captions (distinct templates when possible) for a clip of type `kind` with motion `params`."""
    genders = [str(g) for g in rng.choice(["m", "f"], size=2)]
    fixed = slot_values(params, genders)
    usable = [tpl for cond, tpl in TEMPLATES[kind] if _matches(cond, params)]
    usable = [tpl for tpl in usable if all(k in fixed or k in WORDS for k in re.findall(r"{(\w+)}", tpl))]
    order = rng.permutation(len(usable))
    extra = rng.integers(len(usable), size=max(0, n - len(usable)))     # repeats only if too few templates
    picks = [usable[i] for i in order[:n]] + [usable[i] for i in extra]
    out = []
    for tpl in picks:
        words = {k: str(rng.choice(opts)) for k, opts in WORDS.items()}
        out.append(_finish(tpl.format(**words, **fixed)))
    return out


def all_captions(kind):
    """Every caption the templates of `kind` can produce (for checking that demo prompts are paraphrases)."""
    fills = dict(WORDS, his=["his", "her"], him=["him", "her"], his2=["his", "her"], side=list(SIDE_WORDS),
                 side2=list(SIDE_WORDS), pside=list(SIDE_WORDS), direction=["clockwise", "counterclockwise"],
                 turn=list(SIDE_WORDS), count=list(COUNT_WORDS.values()))
    out = set()
    for _, tpl in TEMPLATES[kind]:
        keys = sorted(set(re.findall(r"{(\w+)}", tpl)))
        for combo in itertools.product(*(fills[k] for k in keys)):
            out.add(_finish(tpl.format(**dict(zip(keys, combo)))))
    return out
