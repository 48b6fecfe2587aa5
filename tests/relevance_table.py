"""The relevance table: queries as practitioners type them, and the points that really discuss each.

Written from the asker's side (a police DS, a health visitor or midwife, a school DSL, a social
worker, a manager), in their words, typos and abbreviations, not copied from point titles. Each
row lists every point that genuinely discusses what was asked, judged by reading the points (and
the briefing sections they cite), never by looking at what the engine returns. A row marked
NOT_COVERED names a safeguarding topic these briefings do not discuss: the right answer is to say
so. A row marked LIVE is a live concern typed as a lookup: right only when the safety net answers
first. NOTHING marks code or a probe: right only when nothing is found or guessed. Rows with form
"sentence" are questions typed in full. `bench/bench_relevance.py` scores the engine on it (top-1,
top-3, MRR per sector, for sentences, for live concerns and overall); `tests/test_relevance.py` fails
when top-3 drops below 95% overall or 90% on sentences, or any live concern misses the safety net.
"""

from __future__ import annotations

from typing import NamedTuple

NOT_COVERED = ("<not covered>",)
LIVE = ("<safety net first>",)  # a live concern: right only when the answer leads with how to act now
NOTHING = ("<nothing close>",)  # code or a probe: right only when nothing is found and nothing guessed


class Row(NamedTuple):
    sector: str  # who is asking: police, health, education, social-care, multi-agency
    query: str
    relevant: tuple[str, ...]  # every point that really discusses it, or NOT_COVERED, LIVE or NOTHING
    form: str = "phrase"  # "phrase" (words as typed in a search box), "sentence" (a question or statement), "live"


def _rows(sector: str, rows: list[tuple[str, tuple[str, ...]]], form: str = "phrase") -> list[Row]:
    return [Row(sector, q, r, "live" if r == LIVE else form) for q, r in rows]


TOXIC = ("h14-toxic-trio-figures", "p14-toxic-trio-overlap", "h14-cumulative-harm", "p19-parental-characteristics",
         "e14-parental-factors", "p14-recognition-everyday-duties")
WNB = ("h14-was-not-brought", "r14-rec-uncertainty", "r14-finding-uncertainty")
SUICIDE = ("h14-suicide", "e14-suicide", "r14-finding-suicide", "r14-rec-suicide", "h14-adolescents")
CSE = ("h14-cse", "e14-cse", "r14-finding-cse", "r14-rec-cse", "h14-adolescents", "p14-adolescents-vulnerable-not-troublesome")
CCE = ("p19-adolescents-history", "p19-lived-experience", "p19-reachable-moments", "p19-child-characteristics")
MISSING = ("p14-going-missing", "p19-reachable-moments", "p14-adolescents-vulnerable-not-troublesome",
           "p19-behaviour-as-communication", "e14-cse", "p14-policy-issues")
SCR = ("e14-what-is-an-scr", "h14-what-is-an-scr", "p14-what-is-an-scr", "p19-what-was-an-scr", "r14-method")
IN_CARE = ("p19-data-living", "h14-adolescents", "e14-cse", "h14-transient-lifestyle", "e14-suicide")
INFO = ("p14-information-sharing-presume", "h14-information-sharing", "p19-information-exchange",
        "p19-effective-communication", "e14-information-sharing", "r14-finding-working-together")
ESCALATION = ("p19-escalation", "e14-persistence", "e14-authoritative-practice", "p14-partnership-hierarchies",
              "e14-working-together", "p19-police-at-every-stage")
EARLY_HELP = ("p14-everyday-opportunities", "r14-finding-vulnerability", "p19-system-wide", "p19-data-social-care",
              "e14-suicide", "h14-sudi", "e14-suicide-caf")

TABLE: list[Row] = [
    *_rows("police", [
        ("dv incident kids in the house", ("p14-da-beyond-the-incident", "p14-recognition-everyday-duties",
                                            "r14-finding-domestic-abuse", "h14-domestic-abuse-disclosure")),
        ("marac", ("p14-partnership-hierarchies", "h14-authoritative-practice")),
        ("MAPPA", ("p19-known-perpetrators", "p14-partnership-hierarchies")),
        ("sarahs law", ("p19-known-perpetrators",)),
        ("child sex offender disclosure", ("p19-known-perpetrators",)),
        ("registered sex offender moved in with mum", ("p19-known-perpetrators",)),
        ("serious crime act", ("p14-da-beyond-the-incident", "r14-rec-domestic-abuse")),
        ("coercive control offence", ("r14-rec-domestic-abuse", "p14-da-beyond-the-incident", "r14-finding-domestic-abuse")),
        ("operation encompass", ("p14-notifications-to-schools", "e14-information-sharing")),
        ("telling schools about dv call outs", ("p14-notifications-to-schools", "e14-information-sharing")),
        ("county lines", CCE),
        ("missing from home", MISSING),
        ("repeat mfh episodes", MISSING),
        ("safe and well check", ("p14-going-missing",)),
        ("abe interview", ("p19-abe-interviews",)),
        ("child denies it in interview", ("p19-minimisation-denial", "p19-abe-interviews")),
        ("strat discussion", ("p14-strategy-discussions",)),
        ("s47 joint visit", ("p14-strategy-discussions", "p19-abe-interviews", "p19-police-at-every-stage")),
        ("teenager keeps getting arrested, is he being exploited", CCE + ("p14-adolescents-vulnerable-not-troublesome",
                                                                        "p19-behaviour-as-communication")),
        ("kid in custody reachable moment", ("p19-reachable-moments",)),
        ("drugs warrant children at address", ("p14-recognition-everyday-duties", "p14-parental-criminality",
                                               "h14-substance-misuse")),
        ("probation officers and children of offenders", ("p14-recognition-everyday-duties", "p14-parental-criminality")),
        ("dad just out of prison", ("p14-parental-criminality",)),
        ("cse girl going with older men", CSE),
        ("exploitaton", CSE + CCE),
        ("sharing info with schools police", ("p14-notifications-to-schools", "e14-information-sharing")),
        ("allegation of abuse we couldn't prove nfa", ("p14-unsubstantiated-concerns",)),
        ("house in a state neglect police", ("p19-neglect-and-poverty", "p14-neglect-all-ages",
                                             "p19-neglect-assessment-tools")),
        ("challenging parents from a different culture", ("p19-cultural-difference",)),
        ("escalating concerns police", ESCALATION),
        ("contextual safeguarding", CCE),
        ("peer on peer violence", CCE),
        ("cdop", ("p19-data-fatal", "p19-data-neglect", "h14-for-all-health-practitioners")),
        ("intrafamilial sexual abuse", ("p19-data-non-fatal", "p19-disclosure-not-acted-on", "p19-minimisation-denial",
                                         "p19-known-perpetrators", "p19-information-exchange", "p19-abe-interviews",
                                         "p14-unsubstantiated-concerns")),
        ("trafficking", ("e14-cse",)),
        ("disclosure not acted on", ("p19-disclosure-not-acted-on", "p19-minimisation-denial")),
        ("police neglet", ("p19-neglect-and-poverty", "p14-neglect-all-ages", "p19-data-neglect",
                           "p19-neglect-assessment-tools")),
        ("clares law", ("p19-who-it-is-for",)),  # mentioned only among the staff the briefing is for
        ("prevent", NOT_COVERED),
        ("radicalisation", NOT_COVERED),
        ("honour based violence", NOT_COVERED),
        ("modern slavery", NOT_COVERED),
    ]),
    *_rows("health", [
        ("was not brought", WNB),
        ("missed health appointments", WNB),
        ("dna clinic", ("h14-was-not-brought",)),
        ("taken off gp list after dnas", ("h14-was-not-brought",)),
        ("safe sleep advice", ("h14-sudi",)),
        ("co sleeping after drinking", ("h14-sudi",)),
        ("bruise on a non mobile baby", ("h14-head-injury", "h14-babies")),
        ("shaken baby", ("h14-head-injury",)),
        ("postnatal depression", ("h14-parental-mental-health", "h14-ask-about-children")),
        ("mum doesn't seem to want the baby", ("h14-maternal-ambivalence",)),
        ("concealed pregnancy", ("h14-maternal-ambivalence",)),
        ("late booking antenatal", ("h14-maternal-ambivalence", "h14-cumulative-harm")),
        ("teenage pregnancy", ("h14-young-parenthood", "h14-ask-about-children")),
        ("young mum struggling", ("h14-young-parenthood",)),
        ("adult mental health patient who has kids", ("h14-ask-about-children", "h14-parental-mental-health",
                                                      "h14-for-all-health-practitioners")),
        ("think family in adult services", ("h14-ask-about-children", "h14-substance-misuse",
                                            "h14-for-all-health-practitioners")),
        ("methadone", ("h14-substance-misuse",)),
        ("parents drinking heavily", ("h14-substance-misuse",) + TOXIC),
        ("patient confidentiality vs safeguarding", ("h14-information-sharing",)),
        ("consent to share", ("h14-information-sharing", "p14-information-sharing-presume")),
        ("gp safeguarding role", ("h14-primary-care",)),
        ("camhs discharged young person self harming", SUICIDE),
        ("teen talking about killing himself", SUICIDE),
        ("young carers", ("h14-adolescents",)),
        ("fii", ("p19-child-characteristics",)),
        ("fabricated illness", ("p19-child-characteristics",)),
        ("injuries put down to his disability", ("h14-disabled-children", "e14-disabled-children")),
        ("interpreter", ("h14-immigrant-families", "e14-immigrant-families")),
        ("referral bounced by social care", ("h14-thresholds", "e14-persistence")),
        ("safeguarding supervision", ("h14-thresholds", "p19-system-wide", "h14-authoritative-practice")),
        ("family keeps moving house", ("h14-transient-lifestyle",)),
        ("isolated mum no support", ("h14-isolation",)),
        ("toxic trio", TOXIC),
        ("aces", ("h14-cumulative-harm", "e14-parental-factors", "p19-parental-characteristics")),
        ("health visitor domestic abuse", ("h14-domestic-abuse-disclosure",)),
        ("frequent a&e attendances", ("h14-transient-lifestyle",)),
        ("sudi", ("h14-sudi",)),
        ("babies under one", ("h14-babies", "p19-data-ages", "h14-infants-and-adolescents")),
        ("head injury", ("h14-head-injury",)),
        ("school nurse", ("h14-for-all-health-practitioners",) + SUICIDE + CSE),
        ("fgm", NOT_COVERED),
        ("female genital mutilation", NOT_COVERED),
        ("disabilty", ("h14-disabled-children", "e14-disabled-children", "p19-data-disability")),
    ]),
    *_rows("education", [
        ("dsl", ("e14-for-all-school-staff", "e14-positive-safeguarding-role", "e14-why-schools-matter")),
        ("kcsie", ("e14-persistence",)),
        ("keeping children safe in education", ("e14-persistence",)),
        ("attendance dropping off", ("e14-curiosity", "e14-child-centred")),
        ("persistent absence", ("e14-curiosity", "e14-child-centred", "p14-notifications-to-schools",
                                "e14-information-sharing")),
        ("pupil always hungry", ("e14-curiosity",)),
        ("home educated child", ("e14-home-education",)),
        ("ehe", ("e14-home-education",)),
        ("cme", ("e14-home-education", "e14-beyond-behaviour")),
        ("exclusion", ("e14-beyond-behaviour",)),
        ("managed move", ("e14-beyond-behaviour",)),
        ("behaviour as communication", ("p19-behaviour-as-communication", "e14-beyond-behaviour")),
        ("ehcp", ("e14-disabled-children", "h14-disabled-children")),
        ("send pupils and abuse", ("e14-disabled-children", "h14-disabled-children")),
        ("pupil disclosed then took it back", ("p19-minimisation-denial",)),
        ("made a referral and nothing happened", ("e14-persistence", "e14-authoritative-practice")),
        ("press for reconsideration", ("e14-persistence",)),
        ("police told us about dv at home", ("p14-notifications-to-schools", "e14-information-sharing")),
        ("transition to secondary school records", ("e14-information-sharing",)),
        ("early years", ("e14-for-all-school-staff", "h14-babies", "h14-infants-and-adolescents", "p19-data-ages")),
        ("nursery neglect", ("e14-curiosity", "e14-sensitivity", "e14-home-education", "e14-facts-and-figures")),
        ("getting used to neglect in a deprived area", ("e14-sensitivity",)),
        ("cse in school", ("e14-cse",)),
        ("pupil self harming", ("e14-suicide", "h14-suicide")),
        ("refugee family at school", ("e14-immigrant-families", "h14-immigrant-families")),
        ("immigrant families school", ("e14-immigrant-families",)),
        ("child clams up when asked about home", ("e14-child-centred",)),
        ("assumed someone else had referred", ("e14-authoritative-practice",)),
        ("bullying", ("p19-child-characteristics", "r14-key-findings-overview")),
        ("online safety", ("r14-key-findings-overview", "p19-adolescents-history")),
        ("social media grooming", ("r14-key-findings-overview",)),
        ("lado", NOT_COVERED),
        ("allegation against a teacher", NOT_COVERED),
        ("sexting", NOT_COVERED),
        ("schools role in safeguarding", ("e14-why-schools-matter", "e14-working-together",
                                          "e14-positive-safeguarding-role")),
        ("teachers see kids every day", ("e14-why-schools-matter",)),
        ("trusted adult in school", ("e14-why-schools-matter", "e14-child-centred")),
        ("education cse", ("e14-cse",)),
        ("curiosty", ("e14-curiosity", "p14-curiosity-one-lens", "h14-authoritative-practice")),
        ("disabled children communication", ("e14-disabled-children", "h14-disabled-children", "r14-rec-listening",
                                              "r14-finding-listening")),
    ]),
    *_rows("social-care", [
        ("disguised compliance", ("r14-finding-uncertainty", "r14-rec-uncertainty")),
        ("parents say the right things but nothing changes", ("r14-finding-uncertainty", "r14-rec-uncertainty")),
        ("closing the case after missed visits", ("r14-rec-uncertainty", "r14-finding-uncertainty")),
        ("assessment is a process not an event", ("r14-finding-assessments",)),
        ("new partner moved in reassess", ("r14-rec-vulnerability", "p19-known-perpetrators")),
        ("fathers", ("p19-data-who-was-involved", "p19-parental-characteristics", "h14-pmh-mothers-fathers")),
        ("male carers", ("p19-data-who-was-involved", "p19-parental-characteristics", "h14-pmh-mothers-fathers")),
        ("lac", IN_CARE),
        ("looked after children", IN_CARE),
        ("foster carers", ("p19-data-living",)),
        ("childrens home", ("p19-data-living",)),
        ("child protection plan", ("r14-finding-vulnerability", "p19-data-social-care")),
        ("cp conference", ("e14-curiosity", "r14-finding-vulnerability", "p19-data-social-care",
                           "r14-rec-working-together")),
        ("emotional abuse", ("p19-data-social-care", "p19-neglect-and-poverty", "e14-child-centred",
                             "p14-curiosity-one-lens", "e14-home-education")),
        ("early help", EARLY_HELP),
        ("caf", ("e14-suicide-caf", "e14-suicide")),
        ("thresholds", ("h14-thresholds", "e14-persistence", "p14-everyday-opportunities")),
        ("drift", ("e14-persistence", "r14-finding-assessments")),
        ("private law contact dispute", ("p14-separation-warning-sign", "r14-rec-domestic-abuse",
                                         "h14-domestic-abuse-disclosure", "r14-finding-domestic-abuse")),
        ("private fostering", NOT_COVERED),
        ("nasty divorce", ("p14-separation-warning-sign", "r14-finding-domestic-abuse")),
        ("cumulative harm", ("h14-cumulative-harm", "p19-adolescents-history")),
        ("triangulate what parents say", ("r14-rec-uncertainty", "p14-information-sharing-presume",
                                          "r14-finding-vulnerability")),
        ("hard to reach family", ("r14-finding-uncertainty", "r14-rec-uncertainty", "p19-cultural-difference")),
        ("dad in prison", ("p14-parental-criminality",)),
        ("poverty", ("p19-neglect-and-poverty",)),
        ("overcrowded housing", ("h14-cumulative-harm", "e14-parental-factors", "p14-toxic-trio-overlap")),
        ("day in the life of the child", ("p19-lived-experience",)),
        ("seeing the child on their own", ("p19-lived-experience", "r14-finding-listening", "e14-child-centred",
                                           "r14-rec-listening")),
        ("babies can't tell us", ("r14-finding-listening", "r14-rec-listening")),
        ("strategy meeting", ("p14-strategy-discussions", "p19-abe-interviews")),
        ("section 47", ("p14-strategy-discussions",)),
        ("neglect", ("p19-neglect-and-poverty", "p14-neglect-all-ages", "h14-cumulative-harm", "e14-sensitivity",
                     "p19-data-neglect", "p19-neglect-assessment-tools")),
        ("social worker neglect", ("p19-neglect-and-poverty", "p14-neglect-all-ages", "r14-finding-vulnerability",
                                   "p19-neglect-assessment-tools")),
        ("parental mental health", ("h14-parental-mental-health", "h14-ask-about-children")),
        ("substance misusing parents", ("h14-substance-misuse",) + TOXIC),
        ("known to childrens services", ("r14-finding-vulnerability", "p19-data-social-care")),
        ("forced marriage", NOT_COVERED),
        ("unaccompanied asylum seeking children", NOT_COVERED),
    ]),
    *_rows("multi-agency", [
        ("professional disagreement", ESCALATION),
        ("escalation policy", ESCALATION),
        ("info sharing myths", INFO),
        ("gdpr", ("h14-information-sharing", "p14-information-sharing-presume")),
        ("saying what the information means for the child", ("p19-effective-communication", "p19-information-exchange",
                                                             "h14-thresholds")),
        ("caseloads too high", ("p19-system-wide", "p14-organisational-change")),
        ("workload pressures", ("p19-system-wide", "p14-organisational-change")),
        ("why do reviews keep saying the same thing", ("p19-repeat-messages",)),
        ("what is an scr", SCR),
        ("lcspr", ("p19-new-review-system",)),
        ("national panel", ("p19-new-review-system",)),
        ("ethnicity data", ("p19-data-ethnicity",)),
        ("how many reviews were about babies", ("h14-babies", "p19-data-ages")),
        ("boys or girls", ("p19-data-gender",)),
        ("how common was neglect in reviews", ("p19-data-neglect", "p14-neglect-all-ages", "e14-facts-and-figures")),
        ("unconscious bias", ("p19-cultural-difference",)),
        ("hierarchy between professionals", ("p14-partnership-hierarchies",)),
        ("deferring to the doctor", ("p14-partnership-hierarchies",)),
        ("target driven culture", ("p14-internal-processes",)),
        ("restructures and cuts", ("p14-organisational-change",)),
        ("trusted adult", ("r14-rec-suicide", "p19-reachable-moments", "r14-rec-working-together",
                           "e14-why-schools-matter")),
        ("multi agency meetings", ("r14-rec-working-together", "p14-partnership-hierarchies", "p14-strategy-discussions")),
        ("case moves to another area", ("h14-transient-lifestyle",)),
        ("for information only", ("r14-finding-working-together",)),
        ("domestic abuce", ("p14-da-beyond-the-incident", "r14-finding-domestic-abuse", "h14-domestic-abuse-disclosure",
                            "r14-rec-domestic-abuse")),
        ("coercive control", ("r14-rec-domestic-abuse", "r14-finding-domestic-abuse", "h14-domestic-abuse-disclosure",
                              "p14-da-beyond-the-incident")),
        ("adolescent neglect", ("p14-neglect-all-ages",)),
        ("vulnerable not troublesome teenagers", ("p14-adolescents-vulnerable-not-troublesome", "e14-adolescents")),
        ("professional curiosity", ("e14-curiosity", "p14-curiosity-one-lens", "h14-authoritative-practice")),
        ("hindsight bias in reviews", ("r14-method", "r14-limitations")),
        ("can we use the risk factors as a checklist", ("r14-limitations",)),
        ("where were children living", ("p19-data-living",)),
        ("who harmed the children", ("p19-data-who-was-involved",)),
        ("regional differences", ("p19-data-geography",)),
        ("nrm", NOT_COVERED),
        ("extremism", NOT_COVERED),
        ("witchcraft", NOT_COVERED),
        ("honour based abuse", NOT_COVERED),
        ("LADO referral", NOT_COVERED),
    ]),
    # Full sentences, as practitioners type a question: ranked by what they ask, not how they ask it.
    *_rows("social-care", [
        ("what should I do if a parent won't let me see the child", ("r14-finding-uncertainty", "r14-rec-uncertainty",
                                                                  "h14-was-not-brought", "p19-lived-experience")),
        ("child protection plan ended too early", ("r14-finding-uncertainty", "r14-rec-uncertainty")),
        ("we closed the case after the family stopped answering the door", ("r14-finding-uncertainty",
                                                                          "r14-rec-uncertainty")),
        ("how do I know if parents are just telling me what I want to hear", ("r14-finding-uncertainty",
                                                                            "r14-rec-uncertainty")),
        ("mum has a new boyfriend, do I need to reassess", ("r14-rec-vulnerability", "p19-known-perpetrators")),
        ("how can I find out what a day is like for the child", ("p19-lived-experience",)),
        ("what do reviews say about poverty and neglect", ("p19-neglect-and-poverty",)),
        ("is it still neglect if the family are just poor", ("p19-neglect-and-poverty",)),
        ("why do serious case reviews keep finding the same things", ("p19-repeat-messages",)),
        ("the baby is too young to talk so how do I hear their voice", ("r14-finding-listening", "r14-rec-listening")),
        ("what should I weigh up when both parents have mental health problems and drink",
         ("h14-toxic-trio-figures", "p14-toxic-trio-overlap", "h14-cumulative-harm", "p19-parental-characteristics",
          "e14-parental-factors")),
        ("should I be worried about a family where dad has just come out of prison", ("p14-parental-criminality",)),
        ("parents are separating and fighting over contact, is that a warning sign", ("p14-separation-warning-sign",
                                                                                    "r14-finding-domestic-abuse",
                                                                                    "r14-rec-domestic-abuse")),
        ("what does the research say about assessment being ongoing", ("r14-finding-assessments",
                                                                      "r14-rec-assessments")),
        ("is there learning on checking what parents tell us against other sources", ("r14-rec-uncertainty",
                                                                                     "p14-information-sharing-presume")),
    ], form="sentence"),
    *_rows("health", [
        ("missed immunisations", WNB),
        ("the baby keeps missing appointments what does the learning say", WNB),
        ("should we discharge a child from the clinic after two dnas", ("h14-was-not-brought", "r14-rec-uncertainty")),
        ("what should a gp do when a family is removed from the list", ("h14-was-not-brought", "h14-primary-care")),
        ("think family", ("h14-ask-about-children", "h14-substance-misuse", "h14-for-all-health-practitioners")),
        ("my adult patient has schizophrenia and I don't know if there are children at home",
         ("h14-ask-about-children", "h14-parental-mental-health")),
        ("is it safe for a baby to sleep in the bed with parents", ("h14-sudi",)),
        ("how should I talk to a mum about domestic abuse when her partner is always there",
         ("h14-domestic-abuse-disclosure",)),
        ("can I share information without the parents consent", ("h14-information-sharing",
                                                                "p14-information-sharing-presume")),
        ("a bruise on a baby who cannot crawl yet, what do reviews say", ("h14-head-injury", "h14-babies")),
        ("the mum does not seem bonded with her new baby", ("h14-maternal-ambivalence",)),
        ("what does the learning say about teenage mums", ("h14-young-parenthood",)),
        ("are disabled children more at risk of abuse being missed", ("h14-disabled-children",
                                                                     "e14-disabled-children", "p19-data-disability")),
        ("how do I use an interpreter with a family safely", ("h14-immigrant-families", "e14-immigrant-families")),
        ("the family keep moving between areas and records do not follow them", ("h14-transient-lifestyle",)),
    ], form="sentence"),
    *_rows("education", [
        ("what should I do when a pupil's attendance keeps dropping", ("e14-curiosity", "e14-child-centred")),
        ("a child is being taken out of school to be home educated, should I worry", ("e14-home-education",)),
        ("I made a referral weeks ago and heard nothing back", ("e14-persistence", "e14-authoritative-practice")),
        ("should I assume social care already know about this family", ("e14-authoritative-practice",)),
        ("how do I get a quiet child to talk about what happens at home", ("e14-child-centred", "r14-rec-listening",
                                                                         "r14-finding-listening")),
        ("we are thinking of excluding a pupil whose behaviour is getting worse", ("e14-beyond-behaviour",
                                                                                 "p19-behaviour-as-communication")),
        ("is there anything about passing on safeguarding files when pupils change school",
         ("e14-information-sharing",)),
        ("how do staff in a deprived school avoid getting used to neglect", ("e14-sensitivity",
                                                                            "p19-neglect-and-poverty")),
        ("a year 10 girl keeps going off with older men after school", CSE),
        ("when should school use an early help assessment instead of a referral", ("e14-suicide-caf", "e14-suicide")),
        ("what can schools do for a pupil who talks about wanting to die", ("e14-suicide", "h14-suicide",
                                                                           "r14-rec-suicide")),
        ("why does the police tell the school about domestic incidents", ("p14-notifications-to-schools",
                                                                         "e14-information-sharing")),
    ], form="sentence"),
    *_rows("police", [
        ("return home interview", MISSING),
        ("what should officers look for when a teenager keeps going missing", MISSING),
        ("how do I spot a child at risk when I am attending a burglary", ("p14-recognition-everyday-duties",)),
        ("the girl denied everything in her abe interview, what now", ("p19-minimisation-denial", "p19-abe-interviews")),
        ("do we need a strategy discussion before a joint visit", ("p14-strategy-discussions",
                                                                  "p19-police-at-every-stage")),
        ("a known sex offender has moved in with a family, who should we tell", ("p19-known-perpetrators",)),
        ("we could not prove the allegation so the case was closed, was that right", ("p14-unsubstantiated-concerns",
                                                                                     "r14-rec-uncertainty")),
        ("how do we look past the single domestic incident", ("p14-da-beyond-the-incident",
                                                             "r14-finding-domestic-abuse")),
        ("the boy we arrested for drugs is probably being exploited", CCE + ("p14-adolescents-vulnerable-not-troublesome",)),
        ("how can officers use the moment a young person is in custody", ("p19-reachable-moments",)),
        ("should officers challenge a social care decision they disagree with", ESCALATION),
        ("what does the briefing say about neglect found at police incidents", ("p19-neglect-and-poverty",
                                                                               "p14-neglect-all-ages",
                                                                               "p19-neglect-assessment-tools")),
    ], form="sentence"),
    *_rows("multi-agency", [
        ("what does information for information only mean in the reviews", ("r14-finding-working-together",)),
        ("why do professionals defer to doctors in meetings", ("p14-partnership-hierarchies",)),
        ("how do high caseloads and staff shortages affect safeguarding", ("p19-system-wide",
                                                                         "p14-organisational-change")),
        ("can I use the list of risk factors to decide who is at risk", ("r14-limitations",)),
        ("how many of the children were babies", ("h14-babies", "p19-data-ages")),
        ("what has replaced serious case reviews", ("p19-new-review-system",)),
        ("were most children harmed by their own parents", ("p19-data-who-was-involved",)),
        ("how do I make sure my message about risk is understood by another agency",
         ("p19-effective-communication", "p19-information-exchange")),
        ("we keep sharing information but nobody acts on it", ("p19-information-exchange", "r14-finding-working-together",
                                                              "p19-effective-communication")),
        ("were most children in the reviews already on a child protection plan", ("r14-finding-vulnerability",
                                                                                  "p19-data-social-care")),
    ], form="sentence"),
    # Live concerns typed as a lookup: the safety net answers first, every time.
    *_rows("education", [
        ("a year 7 boy just told me his dad punches him", LIVE),
        ("pupil says her mum's boyfriend touches her at night", LIVE),
        ("one of my pupils has disclosed that she is being hit at home", LIVE),
        ("a girl in my tutor group told me she is scared to go home tonight", LIVE),
        ("child in reception came in with a handprint on his cheek", LIVE),
        ("I'm worried about a pupil who keeps coming in hungry and bruised", LIVE),
        ("a student just told me she is self harming what should i do", LIVE),
    ]),
    *_rows("health", [
        ("baby at clinic today has bruises on her chest", LIVE),
        ("mum disclosed to me that her partner hits her in front of the kids today", LIVE),
        ("I'm concerned about a baby I visited, there were marks on his face", LIVE),
        ("a teenage patient told me her uncle abuses her", LIVE),
        ("who do I call, a toddler on my caseload has a burn mark", LIVE),
        ("the 14 year old i saw in a&e this morning said she is being groomed", LIVE),
    ]),
    *_rows("police", [
        ("child at the address said her stepdad hits her", LIVE),
        ("a boy I spoke to on patrol is scared of going home", LIVE),
        ("the girl told us today that a man is exploiting her", LIVE),
        ("what should I do, a lad in custody says his brother beats him", LIVE),
    ]),
    *_rows("social-care", [
        ("I think a child on my caseload is being sexually abused", LIVE),
        ("a child I visit has told me her dad hurts her", LIVE),
        ("I'm really worried about a baby on my caseload, mum is not feeding him", LIVE),
        ("young person I support just disclosed rape", LIVE),
        ("not sure who to tell, a child said he is being hurt at home", LIVE),
    ]),
    *_rows("multi-agency", [
        ("I need to raise a concern about a child in my club", LIVE),
        ("a kid at the youth club told me someone is hurting him", LIVE),
        ("what do i do if a child tells me about abuse right now", LIVE),
    ]),
    # The role someone works in: points written for that role lead.
    *_rows("health", [
        ("gp", ("h14-primary-care", "h14-was-not-brought", "h14-ask-about-children")),
        ("health visitor", ("h14-domestic-abuse-disclosure", "h14-maternal-ambivalence", "h14-primary-care",
                            "h14-for-all-health-practitioners")),
        ("midwife", ("h14-ask-about-children", "h14-maternal-ambivalence", "h14-authoritative-practice",
                     "h14-primary-care", "h14-young-parenthood")),
    ]),
    *_rows("education", [
        ("teacher", ("e14-why-schools-matter", "e14-for-all-school-staff", "p14-notifications-to-schools",
                     "e14-beyond-behaviour")),
    ]),
    *_rows("social-care", [
        ("social worker", ("r14-rec-uncertainty", "p19-abe-interviews", "p14-partnership-hierarchies")),
    ]),
    *_rows("police", [
        ("police officer", ("p19-who-it-is-for", "p14-recognition-everyday-duties", "p19-reachable-moments",
                            "p19-neglect-assessment-tools", "p14-curiosity-one-lens")),
    ]),
    # Topics the briefings do not cover, and code or probes typed into the box.
    *_rows("police", [
        ("knife crime", NOT_COVERED),
        ("police protection powers", NOT_COVERED),
        ("emergency protection order", NOT_COVERED),
        ("' OR 1=1 --", NOTHING),
        ("DROP TABLE", NOTHING),
    ]),
    *_rows("social-care", [
        ("start again syndrome", NOT_COVERED),
        ("<script>alert(1)</script>", NOTHING),
        ("{{7*7}}", NOTHING),
    ]),
    *_rows("education", [
        ("is there anything on knife crime in schools", NOT_COVERED),
        ("../../etc/passwd", NOTHING),
    ]),
]  # fmt: skip


class Scored(NamedTuple):
    row: Row
    rank: int | None  # 1-based rank of the first relevant point (1 for a correct "not covered"), None if missed
    got: list[str]  # what came back: the top three point ids, or the answer kind


def rank_of(lookup, row: Row) -> Scored:  # noqa: ANN001
    answer = lookup.answer(row.query)
    if row.relevant == LIVE:
        return Scored(row, 1 if answer.safety is not None and answer.kind == "safety" else None, [answer.kind])
    if row.relevant == NOTHING:
        right = answer.kind == "not_found" and not answer.results and not answer.suggestions
        return Scored(row, 1 if right else None, [answer.kind, *(p.id for p in answer.results[:2])])
    if row.relevant == NOT_COVERED:
        return Scored(row, 1 if answer.kind == "not_covered" else None, [answer.kind, *(p.id for p in answer.results[:2])])
    ids = [p.id for p in answer.results]
    rank = next((i + 1 for i, pid in enumerate(ids) if pid in row.relevant), None)
    return Scored(row, rank, ids[:3] or [answer.kind])


def metrics(scored: list[Scored]) -> dict[str, float]:
    n = len(scored) or 1
    return {
        "n": len(scored),
        "top1": sum(1 for s in scored if s.rank == 1) / n,
        "top3": sum(1 for s in scored if s.rank is not None and s.rank <= 3) / n,
        "mrr": sum(1 / s.rank for s in scored if s.rank) / n,
    }


def evaluate(lookup) -> tuple[list[Scored], dict[str, dict[str, float]]]:  # noqa: ANN001
    """Score every row; metrics per asking sector, for full sentences and live concerns, and "overall"."""
    scored = [rank_of(lookup, row) for row in TABLE]
    sectors = sorted({row.sector for row in TABLE})
    table = {s: metrics([x for x in scored if x.row.sector == s]) for s in sectors}
    for form in ("sentence", "live"):
        table[form] = metrics([x for x in scored if x.row.form == form])
    table["overall"] = metrics(scored)
    return scored, table
