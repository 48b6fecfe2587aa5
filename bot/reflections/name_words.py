"""Names that are also ordinary words, places or dates: masked only with other evidence.

Generated from the gazetteer (`bot.reflections.gazetteer`) and the Debian `wbritish` word list
(/usr/share/dict/british-english): a first name or surname whose lower-case form is a lower-case
English word ("will", "may", "hope", "grace", "baker"). `tests/test_privacy.py` re-checks the list
against the installed gazetteer whenever that word list is present (CI installs it), so a Faker
upgrade that adds such a name fails loudly instead of masking everyday words. The hand-written part
(UK places, countries, months, days, festivals; not Jordan, India or Georgia, which are far more
often a child's name in a reflection than a country) follows, because those are capitalised in normal
writing and the word list holds them only as proper nouns; so does MOSTLY_NAMES.
"""

DICTIONARY_FIRST_NAMES = frozenset(
    """
    abbey ace add admiral ah albino ale ally almond alpha alto amber amir among an angel angelic ani
    anon ante ants arch archer ares aria art aspen astride atlas august aura author autumn azalea babe
    baby baker bale banks baptist barb barney baron basil bassi beat beau bee bell belle bent berg berry
    beryl beta bill billy bird birdie bishop bitten blanch blaze blessing bliss blossom bob bobby bode
    boga bogey bonnie bonny boss bowman brad brain branch brandy brogan brook brooks brown buck bud
    buddy bunk burns burr bush buster butch butler caddie cadence cal cam can canal candy cannon canyon
    cap caprice captain carmine carol carry case cash celesta chad champ chance chancy chandler charity
    chase chastity cherish cherry chi chin china chip christen chuck cinnamon clay cleave clement cliff
    colleen collie collier colon colonel colt comfort commodore con constant cooper coral cord corona
    council coy creed crystal curt dahlia daisy dale darling dawn deacon dean deb deforest dell delta
    derrick destiny diamond dick dickie dieter dimple dink dirk divan doc dock doctor dodo doll dolly
    don dot dotty dove drake drew dries duff duke dusty earl early earnest ebb ebony echo ed eddy edit
    eider elder ell else ember emerald emery emir emit era ermine essence ester eta ether eve ever fairy
    faith fancy fanny fares fate fawn fed felicity feline fem fern fielding finis fisher fleet flint
    floor flora florin ford forest forum foster fount franc frank freeman french friend fuller gal gala
    gale garland garner garnet garret garrison gauge gay gee gene general genesis genie ginger glen
    golden gorge governor grace grant graves green greet griffin grit grove gun gunner gurney gust guy
    hale hall ham handy hank harden hardy harm harmony harry harsh hart haven hays hazel heath heather
    heaven hector hence henna herb hill hind holly homer hope hung hunt hunter hymen icy imam immaculate
    infant innocent ion iris ivory ivy jack jade jail jarred jasmine jasper jay jet jewel jimmy job john
    joke josh journey joy judge julienne junior justice kale karma ken kick king kit kitty lacy laddie
    lady lance lander lane lark lassie laurel lavender lawyer laze lea leafy lean leaner lee lemma lemon
    less levy liberty lien lies lily linden line link lisle little lo loan lode lone long loot lope lore
    lot love loyal lucky lute lyric mace mad madden made mads magnolia major male man manly manning mar
    mare margarita maria marina marine mark marlin marquis marquise marry mars marsh marshal mart marten
    martial martin marvel mason mat mate mats matt matts maverick max maxim maxima may mayo meadow media
    meg melody mentor mercy merrily merry messiah meta metro mickey mike mile miles miller mills miner
    minor miracle mist misty moody my myrtle nacho nadir nail narcissus newt newton nick nil ninja noble
    noel north nova novella octave odd olive opal oral orange ova owe page paisley pansy park parley
    paschal pastor pat pate patience patsy patty paw peace pearl pearly peer penny pepper per peter
    phoebe phoenix pier pierce pink pinkie piper pleas pleasant pol poppy porter precious press price
    prince princess prosper prudence puck purity purl queen raid randy ransom raven ray reason red
    redden reed rein rhea rice rich rick ridge rim river roan roar rob robin rock rocky rod roe roger
    rogers roll romaine roman rose rosemary rosette rosy royal rube ruby rune rush rusty rut sable sad
    safari saga sage said saint salami sally sander sanders sandy sari savanna savannah sawyer scarlet
    senna sera serenity serge server sever shad shade shepherd sherry sibyl sierra silvan silver sim
    sincere sine sing sister skip sky smith sol sole son sonata sonny spring squire star starling stein
    sterling steward stone stonewall stoney storm stormy sue summer sunny sunshine sylvan tab tad talon
    tan tanner tawny tea terry theta tiara ties tilde till tine tiny tom toms tone tony tor tore toy
    trace treasure trinity troy true tucker turner tutu unique unknown unnamed urban us valentine valid
    valves van veer velvet vernal vi victor victory villa viola violet viva wade wadi wage waldo walker
    ward warren wash watt weaver wellington wells west wheeler whit wilder will willow windy wing winter
    wolf wolfram wood woody worth wright yaw yoga young zed zeta
    """.split()  # noqa: SIM905
)

ORDINARY_SURNAMES = frozenset(
    """
    abate abed agate alas amble arenas arias arroyo arts asp auger baa back backer bah bail ball ban
    barber bare barker barman barrio barrios barrows bass basso bates bath bean beard beck beer bender
    best bigot bilge binder bins birch bite black block blot bodkin boles bond boner bones bonnet boon
    booth bore borer bouillon bourgeois bowers bowler brands bravo bray brewer brick bridge bridges
    bright brink browning brunet bull bullock burger burrows bury butcher butte cairn cairns camps
    canals canning canny cant car cares carpenter carrier carton cases chamberlain chambers champagne
    char church clear close cocci colas comas combs comer comment company contractor convey cook cools
    cornet corral cotter courtier cousin cousins cox crane craven craw crooks cross cruise cumming curry
    dam dare dash date davenport day decamps deep dickey din diver divine doe downing downs doyen drub
    drum dunning dyer each emo fair fall fanning farina farmer fee feller ferry field fields finch fink
    fleck flood flowers font foot forget fox freely fresh frisk frost fry funk gamble gates gentry
    gibbon gibbons gill glass glasses glazier goblet good gore grand gravel grey grill grimes gross
    guard gunning gut hacker hammer hand handler hare haring hasty hawthorn hay hearty heck held hell
    helm hens herd heron herring hickey hicks hills ho hoes hogan holder holler honing hood hook hoop
    horn house huff hug hull hurt johns jug junk keeling key khan kidney killer kind kindle kink kiss
    knight knoll lad lam lamas lamb lass law lawless leach leech lees leis lie limo lips lira list
    llamas llano llanos looney lopes lord low lucid lynch macho madrigal mall mallet mambo mane mans
    mantilla mares marks martens martins mas master mayor mayoral meadows merchant merino mesa millet
    mitt moan moles moll monk monks moon moons moor moors more mores morrow moss mountain mule must nary
    nickels oak orchard pace pages pal palazzo pall palm palomino pant pap parent parks parry parsons
    parts payer peacock peck pellet pent peters petty pi pike pinto plank plaza plover pock pole polo
    pop pope post potter potters pottier power powers priest privet proctor provost put quill rafter
    rails raja ram rattan ravel read reader real reeves reis renders richer riddle ring rivers roach
    room roots rosin rout ruddy rust sager sales salmon salvo sandal sane sang sans savage savant
    schmuck scullion sears sellers seven sexton shah sharp sheikh shields shine short silk sims singer
    singleton sinner sire sitar sitters small smart smit snow solar soon soprano sparks spears spies
    stack stark steed steer stern stock stokes storey story stout strand street strong suits summers
    sunder supple swift swords tack tailor tank thatcher tins toner too toots torrent torrents tromp
    tron vain vial vigil wall walls ware warmer warrior waters watts way weeks weir welch welter were
    white wiener wild wills winters wise witting woods wren yogi
    """.split()  # noqa: SIM905
)

PLACES_AND_DATES = frozenset(
    """
    april august bedford bradford bristol carlisle chester china christmas december devon diwali dudley
    easter eid essex february friday harlow ireland israel january jesus july june
    kendal kent kenya lincoln london march may milton monday november october preston ramadan saturday
    september sunday thursday tuesday warwick wednesday york
    """.split()  # noqa: SIM905
)

# Hand-picked from DICTIONARY_FIRST_NAMES: written with a capital in a reflection these are almost
# always a person ("Harry", "Poppy", "Peter"), so they are masked when capitalised, like any other
# first name; in lower case they are left alone unless a family word comes first ("mum dawn").
MOSTLY_NAMES = frozenset(
    """
    aria barney basil beau belle beryl billy bob bobby bonnie brad carol clement colleen daisy dawn dean
    derrick dolly dotty dusty eddy felicity fern flora gene glen harry hazel heather hector holly
    iris ivy jack jade jasmine jasper jay jimmy john josh ken kitty laurel lee lily maria marina martin
    mason matt max meg mickey mike myrtle nick noel olive patsy patty pearl peter phoebe poppy rhea rick
    robin roger rosemary ruby sally sandy savannah sherry sonny terry tom tony troy victor violet willow
    woody
    """.split()  # noqa: SIM905
)

ORDINARY_FIRST_NAMES = (DICTIONARY_FIRST_NAMES - MOSTLY_NAMES) | PLACES_AND_DATES
