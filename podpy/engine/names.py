"""Random container names like Podman's (``adjective_surname``) for containers run without --name."""

from __future__ import annotations

import os

_LEFT_TEXT = (
    "admiring adoring affectionate agitated amazing angry awesome beautiful blissful bold boring brave "
    "busy charming clever cool compassionate competent condescending confident cranky crazy dazzling "
    "determined distracted dreamy eager ecstatic elastic elated elegant eloquent epic exciting fervent "
    "festive flamboyant focused friendly frosty funny gallant gifted goofy gracious great happy hardcore "
    "heuristic hopeful hungry infallible inspiring intelligent interesting jolly jovial keen kind laughing "
    "loving lucid magical modest musing mystifying naughty nervous nice nifty nostalgic objective "
    "optimistic peaceful pedantic pensive practical priceless quirky quizzical recursing relaxed "
    "reverent romantic sad serene sharp silly sleepy stoic strange stupefied suspicious sweet tender "
    "thirsty trusting unruffled upbeat vibrant vigilant vigorous wizardly wonderful xenodochial youthful "
    "zealous zen"
)
_RIGHT_TEXT = (
    "agnesi albattani allen almeida archimedes ardinghelli aryabhata austin babbage banach bardeen "
    "bartik bassi beaver bell benz bhabha bhaskara black blackburn blackwell bohr booth borg bose "
    "bouman boyd brahmagupta brattain brown buck burnell cannon carson cartwright cerf chandrasekhar "
    "chaplygin chatelet chatterjee chebyshev cohen colden cori cray curie darwin davinci dewdney dhawan "
    "diffie dijkstra dirac driscoll dubinsky easley edison einstein elbakyan elgamal elion ellis "
    "engelbart euclid euler faraday feistel fermat fermi feynman franklin gagarin galileo galois "
    "ganguly gates gauss germain goldberg goldstine goldwasser golick goodall gould greider grothendieck "
    "haibt hamilton haslett hawking heisenberg hellman hermann herschel hertz heyrovsky hodgkin "
    "hofstadter hoover hopper hugle hypatia jackson jang jennings jepsen johnson joliot jones kalam "
    "kapitsa kare keldysh keller kepler khayyam khorana kilby kirch knuth kowalevski lalande lamarr "
    "lamport leakey leavitt lederberg lehmann lewin lichterman liskov lovelace lumiere mahavira margulis "
    "matsumoto maxwell mayer mccarthy mcclintock mclaren mclean mcnulty meitner mendel mendeleev meninsky "
    "merkle mestorf mirzakhani montalcini moore morse moser murdock napier nash neumann newton nightingale "
    "nobel noether northcutt noyce panini pare pascal pasteur payne perlman pike poincare poitras "
    "proskuriakova ptolemy raman ramanujan rhodes ride ritchie robinson roentgen rosalind rubin saha "
    "sammet sanderson satoshi shamir shannon shaw shirley shockley shtern sinoussi snyder solomon spence "
    "stonebraker sutherland swanson swartz swirles taussig tesla tharp thompson torvalds tu turing "
    "varahamihira vaughan villani visvesvaraya volhard wescoff wilbur wiles williams williamson wilson "
    "wing wozniak wright wu yalow yonath zhukovsky"
)
_LEFT = _LEFT_TEXT.split()
_RIGHT = _RIGHT_TEXT.split()


def random_name() -> str:
    # os.urandom rather than ``secrets`` (~3 ms of imports on every ``run`` without --name); the
    # tiny modulo bias does not matter for a name
    a, b = int.from_bytes(os.urandom(4), "little"), int.from_bytes(os.urandom(4), "little")
    return f"{_LEFT[a % len(_LEFT)]}_{_RIGHT[b % len(_RIGHT)]}"
