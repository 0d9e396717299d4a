"""The words of the translation task's grammar (engine.seq2seq.grammar): English lemmas by part of speech.

Inflected forms (plurals, third person singular, past tense) are made by the usual spelling rules in
:mod:`engine.seq2seq.grammar`; the irregular ones are listed here. Every surface form belongs to one
part of speech only (the grammar checks it), so that each sentence has a single parse and so a single
translation.
"""

from __future__ import annotations

NOUNS = """
man woman child person boy girl baby king queen prince princess farmer doctor teacher student
soldier sailor pilot driver singer dancer painter writer poet actor baker butcher hunter fisherman
judge lawyer nurse priest monk thief guard merchant traveller stranger neighbour friend enemy uncle
aunt cousin brother sister mother father daughter son grandmother grandfather wife husband captain
general servant scholar artist musician clown giant dwarf wizard witch knight emperor duke shepherd
dog cat horse cow pig goat lamb bird fox wolf bear lion tiger rabbit mouse rat hamster monkey elephant
camel donkey duck goose hen owl eagle crow snake frog turtle whale dolphin shark spider bee ant
butterfly beetle squirrel hedgehog badger otter beaver parrot swan pigeon sparrow falcon lizard
house garden tree river mountain forest field city village road bridge castle tower church school
market shop farm barn stable kitchen room window door wall roof floor table chair bed lamp mirror
book letter map picture painting song story poem key box bag basket bottle cup plate bowl spoon
knife fork pot pan kettle candle clock coin ring crown sword shield bow arrow hammer axe rope ladder
boat ship train car wagon cart wheel bicycle apple pear orange lemon grape cherry plum peach melon
carrot potato tomato onion bean cabbage bread cake cheese egg butter soup meat milk honey rice
flower rose tulip lily leaf branch root seed stone rock hill valley lake pond island beach shore
desert cave cliff meadow orchard vineyard harbour station library museum theatre palace prison
hospital office factory mill bakery inn tavern temple tent hut cottage fence gate path street
square fountain well chimney stair attic cellar garage hall corridor balcony shelf drawer cupboard
blanket pillow carpet curtain towel shirt coat hat boot shoe glove scarf dress skirt belt button
needle thread cloth basket violin drum flute guitar piano trumpet bell whistle kite ball doll puzzle
game card dice ticket coin stamp envelope parcel newspaper magazine diary notebook pencil pen brush
paint canvas statue vase jar barrel bucket sack feather nest egg shell pearl diamond ruby emerald
gold silver iron copper glass paper leather wool silk cotton stick log plank nail screw bolt chain
lock helmet lantern torch compass telescope camera radio computer phone robot engine rocket planet
star moon sun cloud storm rainbow wind snow river ocean sea wave sail anchor flag banner tent
umbrella cloak mask wand scroll potion cauldron broom dragon unicorn ghost goblin troll fairy
mermaid pirate detective inventor sculptor gardener carpenter blacksmith tailor barber miner
"""

IRREGULAR_PLURALS = {
    "man": "men", "woman": "women", "child": "children", "person": "people", "mouse": "mice",
    "goose": "geese", "wolf": "wolves", "knife": "knives", "leaf": "leaves", "wife": "wives",
    "thief": "thieves", "shelf": "shelves", "fisherman": "fishermen", "dwarf": "dwarves",
    "potato": "potatoes", "tomato": "tomatoes",
}

# transitive verbs: "base" or "base:past" when the past is irregular or doubles its consonant
TRANSITIVE = """
see:saw watch follow chase help call visit meet:met find:found love like hate admire fear greet
thank touch push pull carry lift hold:held drop:dropped catch:caught throw:threw kick hit:hit
paint draw:drew read:read write:wrote open close clean wash cook bake eat:ate drink:drank buy:bought
sell:sold steal:stole hide:hid seek:sought keep:kept bring:brought send:sent take:took give:gave
feed:fed teach:taught remember forget:forgot notice ignore answer ask invite join leave:left
protect attack defend rescue save trust blame praise warn guide lead:led hear:heard smell taste
build:built break:broke fix repair mend fill empty count measure weigh collect gather plant pick
cut:cut chop sharpen polish fold wrap unwrap tie:tied untie:untied pack unpack load unload deliver
borrow lend:lent own want need prefer choose:chose order recognise describe study examine inspect
admire:admired imagine draw:drew sing:sang play climb cross guard:guarded hunt trap free:freed
feed:fed wake:woke bite:bit kiss hug:hugged tickle scare surprise amuse annoy bother comfort
forgive:forgave obey serve support visit:visited welcome carry:carried marry:married bury:buried
copy:copied study:studied worry:worried
"""

INTRANSITIVE = """
sleep:slept run:ran walk swim:swam dance sing:sang laugh cry:cried smile wait sit:sat stand:stood
jump fall:fell fly:flew rest shout whisper listen work play travel arrive leave:left stay hurry:hurried
wander rise:rose shine:shone glow tremble shiver snore yawn sneeze cough breathe hide:hid kneel:knelt
bow grow:grew fade vanish appear float sink:sank dive drift blink nod pray dream:dreamt complain
"""

ADJECTIVES = """
old young small big tall short long wide narrow heavy light dark bright quiet loud soft hard warm
cold hot cool wet dry clean dirty rich poor happy sad angry calm brave shy proud kind cruel gentle
wild tame fast slow strong weak sick healthy hungry thirsty tired sleepy busy lazy clever foolish
wise silly strange famous lonely friendly polite rude honest funny serious careful careless curious
nervous patient jealous lucky grumpy cheerful noisy silent sweet bitter sour salty fresh stale ripe
rotten empty full broken new ancient modern red blue green yellow white black brown grey pink purple
golden silver wooden stone round square flat sharp smooth rough thin thick fat beautiful ugly pretty
plain elegant clumsy graceful shiny dusty muddy sandy rocky snowy rainy sunny windy foggy frozen
huge tiny enormous little giant narrow deep shallow steep cheap expensive precious rare common
secret hidden lost magic royal humble noble wicked holy famous distant nearby foreign local
"""

ADVERBS = """
quickly slowly quietly loudly happily sadly angrily calmly carefully gently bravely proudly
patiently nervously secretly suddenly finally often rarely always never again today yesterday
"""

PREPOSITIONS = "in on under near behind beside above below inside outside across beyond"

# determiners: (surface form, number it agrees with: "sg", "pl" or "any")
DETERMINERS = [
    ("the", "any"), ("a", "sg"), ("this", "sg"), ("these", "pl"), ("those", "pl"), ("every", "sg"),
    ("some", "pl"), ("my", "any"), ("your", "any"), ("his", "any"), ("her", "any"), ("our", "any"),
    ("their", "any"),
]

# target words chosen by hand (real Japanese where it fits), so that the showcase sentences read well
TARGET_FIXED = {
    "old": "furui", "man": "otoko", "small": "chiisai", "dog": "inu", "see": "mi", "woman": "onna",
    "child": "kodomo", "cat": "neko", "house": "ie", "big": "ookii", "eat": "tabe", "sleep": "ne",
    "garden": "niwa", "bird": "tori", "book": "hon", "read": "yomi", "river": "kawa", "mountain": "yama",
    "tree": "ki", "fish": "sakana", "young": "wakai", "new": "atarashii", "red": "akai", "blue": "aoi",
    "teacher": "sensei", "student": "gakusei", "apple": "ringo", "water": "mizu", "moon": "tsuki",
    "sun": "hi", "write": "kaki", "go": "iki", "run": "hashiri", "walk": "aruki", "in": "de", "on": "ue",
    "under": "shita", "near": "chikaku", "this": "kono", "these": "korera", "those": "arera",
    "quickly": "hayaku", "slowly": "yukkuri", "often": "yoku", "never": "kesshite", "today": "kyou",
    "yesterday": "kinou", "my": "watashino", "your": "anatano",
}
