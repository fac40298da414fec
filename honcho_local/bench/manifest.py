"""Pinned benchmark data: every file `honcho-local bench data pull` fetches, where it comes from, its sha256.

Each file is fetched from its public GitHub repository at a fixed commit (raw.githubusercontent.com) and
lands under the datasets folder at `path`, the layout `bench` reads (`locomo/…`, `beam/100K/<n>/…`).
The sha256 and size were taken from copies verified against those commits; a file that does not match
is refused. Nothing here is shipped: only where to get it and how to recognise it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PinnedFile:
    path: str       # where it lands, relative to the datasets folder
    url: str        # where it is fetched from
    sha256: str
    size: int       # bytes


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    licence: str
    sources: tuple[str, ...]    # "owner/repo@commit", for people
    files: tuple[PinnedFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def raw_github(repo: str, commit: str, path: str) -> str:
    """The raw.githubusercontent.com URL of `path` in `repo` at `commit`."""
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


LOCOMO_COMMIT = "3eb6f2c585f5e1699204e3c3bdf7adc5c28cb376"        # snap-research/LoCoMo
DIAL481_LOCOMO_COMMIT = "82e6cbc81f1f82d166c7622a6583bc30c0192294"  # dial481/locomo (corrected answer key)
LOCOMO_AUDIT_COMMIT = "9493fb4b4af4256ed17a18e8fd0b3cfdeec29539"    # dial481/locomo-audit (flagged answers)
BEAM_COMMIT = "b2a3ee8ba12d68f83143dda191097dc3e028ddd3"            # mohammadtavakoli78/BEAM


def _beam(folder: int, name: str, sha256: str, size: int) -> PinnedFile:
    source = "probing_questions/probing_questions.json" if name == "probing_questions.json" else name
    return PinnedFile(f"beam/100K/{folder}/{name}",
                      raw_github("mohammadtavakoli78/BEAM", BEAM_COMMIT, f"chats/100K/{folder}/{source}"), sha256, size)


LOCOMO = Dataset(
    "locomo", "LoCoMo: 10 long two-speaker conversations, 1,986 questions with evidence turns", "CC BY-NC 4.0",
    (f"snap-research/LoCoMo@{LOCOMO_COMMIT}", f"dial481/locomo@{DIAL481_LOCOMO_COMMIT}",
     f"dial481/locomo-audit@{LOCOMO_AUDIT_COMMIT}"),
    (
        PinnedFile("locomo/locomo10.json", raw_github("snap-research/LoCoMo", LOCOMO_COMMIT, "data/locomo10.json"),
                   "79fa87e90f04081343b8c8debecb80a9a6842b76a7aa537dc9fdf651ea698ff4", 2805274),
        PinnedFile("locomo/locomo10.dial481-corrected.json",
                   raw_github("dial481/locomo", DIAL481_LOCOMO_COMMIT, "data/locomo10.json"),
                   "8f941d1c22ab3dee4cb72521fbccc82d24c30208590a15b0b4005a2f927ff769", 2804832),
        PinnedFile("locomo/locomo-audit-errors.json",
                   raw_github("dial481/locomo-audit", LOCOMO_AUDIT_COMMIT, "errors.json"),
                   "f298ef46263fada20688a1d672be37d4f488c6da3b19343eea55ae5c1b5fe55e", 150552),
    ),
)

# Per chat folder, chat.json comes last: a folder holding chat.json has every file it needs (an interrupted
# pull never leaves chat.json in use where chat_trunecated.json is still missing).
BEAM = Dataset(
    "beam", "BEAM 100K bucket: 20 user-assistant chats, 400 probing questions with rubrics",
    "not stated by its repository", (f"mohammadtavakoli78/BEAM@{BEAM_COMMIT}",),
    (
        _beam(1, "probing_questions.json", "047398ff1497674b11585e7b4829c3d64d2d5e63f7f3572c826b73ca1faaf898", 31547),
        _beam(1, "chat.json", "ea71efd5dcc13f7366d3737b45d532eadb3d1497f3d6f23d1fa1c4004d5ffdf2", 564977),
        _beam(2, "probing_questions.json", "d188e929644c9ef9fcd4520e7b5a3daf2c2e069b1247a324bd13d5aadd1ed96e", 29546),
        _beam(2, "chat.json", "3a3bd796f4aa24e8f34e718dc2823ae942663349eb89054f03885051e2daf1c4", 535114),
        _beam(3, "probing_questions.json", "f53030f3753b0e0a93b330bc62d597cb66375c0c794094d7e69b7646df46e324", 32522),
        _beam(3, "chat.json", "432d3ae5493c04a17a5b6b0ef7c012a70e70ac5cfcaef13059fca6bedb903009", 552331),
        _beam(4, "probing_questions.json", "f69eda522cd7325830c8f78b6f02a571c992b6cf43311fa96f28043fd3c18dae", 34657),
        _beam(4, "chat.json", "e0ef0f74b1f7ac911e8e0518722335c422cbc1112048e9909911b208c51fc027", 720144),
        _beam(5, "chat_trunecated.json", "7d4bbb737bb9fc8430500903af321ba681708f472e42a34bd6f5da8ac548dd9a", 475450),
        _beam(5, "probing_questions.json", "bdd0819a911e46951dbf998905b8eba96a0cdb103cd3dda79ae9c6831e5f195d", 29882),
        _beam(5, "chat.json", "13ac88e483e0d63d3830479fe17f961af1b414503b5077914865eca1c48a1ce8", 472696),
        _beam(6, "probing_questions.json", "7a6f88dfdeb3f1b582209a745e7c980158dbb2829a9ceae6cdb08bb868a00035", 34228),
        _beam(6, "chat.json", "5365cdc41da212fb7143cf9f191ff7862eed8e9ca175b3728fe593adedc87871", 635112),
        _beam(7, "chat_trunecated.json", "b3e2d90a1d27970161ec2f179f2a382833bb186a1fdf19b28dfc9cc6aefdf3af", 618349),
        _beam(7, "probing_questions.json", "2c00219e839d54c7cd3e4fbb396f8a2517fd9f143d3a3b8ea1c4fb9f5c4435c7", 32366),
        _beam(7, "chat.json", "525271b1d24179dbc2deb664c69db0bbaead5938630a0b0d5cd2881b8b79224d", 616803),
        _beam(8, "probing_questions.json", "d279dbd8fd293692d29f0057b3dd2468ccb97c7da6df28ae2adc8481d9970148", 30609),
        _beam(8, "chat.json", "3207b8f5aa45cd1b2d1e2f37f224831b4696d0cc2352ef514af08f2092b6c239", 570827),
        _beam(9, "probing_questions.json", "b7ab1c7022c0b7ac6928f4c2efadd08e2a438dc91e1288209df066cdcd5e9573", 32766),
        _beam(9, "chat.json", "446777f3eed114c27d62030ad86cfb8ad6610fda0fc83dfe98403b8d68b74bd4", 630826),
        _beam(10, "chat_trunecated.json", "b420ff71ac33686522b8c4f80296a5bfc123d80faf3060ce5e6e91ef730b9aaf", 621661),
        _beam(10, "probing_questions.json", "e9bf9bb545b350425a770ef65b501434ba9983c7535b4524dd6ae4d5743b5a95", 32129),
        _beam(10, "chat.json", "de18b7b0ad73491f338296b64ae30f16b94d77404420d971d3f6b513d190ad1c", 722161),
        _beam(11, "chat_trunecated.json", "f3266874081e5a6048727e3cf4ceda9884b357042293f4d57ade9558ee4b9685", 657744),
        _beam(11, "probing_questions.json", "3aa98a74a03be59472834422dd14004d3b432a0c800bbef8f316865834449c08", 33044),
        _beam(11, "chat.json", "45cb4fab51042278e6a57f524fca4cd4b8941cbbd091f9ec8fb92dad4de31b12", 966917),
        _beam(12, "chat_trunecated.json", "0229c8ad4fbdd675304bf7832fa3e48a7512493897eb3b68f41d0cf947dcc6e0", 667514),
        _beam(12, "probing_questions.json", "c36c9b1d4df0d063d1c7db81b35b5ea4743e38a804382d6e557f37ec46e1d6e3", 33666),
        _beam(12, "chat.json", "2654160ebfcbd8a9f7d47a0340503cb301b0f54cb472f93578fa20e78c84c430", 964208),
        _beam(13, "probing_questions.json", "02dee0ba1d5576aed8ac535328a23fe4f882f6dcff3b96e039162e10d547236b", 32094),
        _beam(13, "chat.json", "aea586c143dab53cb5a021b3fab23380d5d9628fea1c4b718f91411019166dc6", 568613),
        _beam(14, "probing_questions.json", "f30350303b4ccd52a36deaf57750a2bf6924fa5885da92d8230797a82dcfbe5f", 30180),
        _beam(14, "chat.json", "43fbffd9ca235a980203faf4c5d6f636e97af4f31f6d91d9cbe42035ab4f0b0d", 492497),
        _beam(15, "probing_questions.json", "6d6ed59bd8cad87ce279c08f42137c2199502d09f198cfa880ef3ab04debd891", 28314),
        _beam(15, "chat.json", "e758dfbdfe6d5a6bd060c6577e6f0282eb445fd7f93150208dcd56e8f8676f43", 476327),
        _beam(16, "chat_trunecated.json", "a90a86bfe313ce0f6082a69188a500fc2afad2fe86f2fdb1a21c7610ca2a3385", 598174),
        _beam(16, "probing_questions.json", "abf20d16a37322112af0fe48f5c43be0d824d54ae2bb2c5e3e069c6e84c54033", 30613),
        _beam(16, "chat.json", "414f11e16156d490cfb8449db62bddae88308e5b37fa79df54b147637f059afd", 663564),
        _beam(17, "chat_trunecated.json", "fb2067c1ee096dea1cff5cb0f9eafc88e7c6fea41014aebf9ac96ad4a30592bd", 585782),
        _beam(17, "probing_questions.json", "7948981c2e40751bfe9ace82e53497d32229245e6012a2e5d4da2e801c929451", 30779),
        _beam(17, "chat.json", "6eb309c34fd98025327bbe46dec8cdfbf76304c249d3f579f02f46cea06eeefe", 586847),
        _beam(18, "chat_trunecated.json", "0b6224918bb4ffa5e51f22b77d40881daeba233d664c7957fe8937a4a2d75ed2", 628351),
        _beam(18, "probing_questions.json", "d813db9e2b416e6ac7cc22841b131ea5c80e5931e690f81bb37aa16c3b9edc3a", 27006),
        _beam(18, "chat.json", "3c08576a5726fa48b9f906bc8699fab37e33cc5219f076f76374f7c1302449cb", 829083),
        _beam(19, "chat_trunecated.json", "dece8764492998bb88c2ec75597bc31c36629483ed1813a6dccdac78ce01bc34", 637094),
        _beam(19, "probing_questions.json", "b911651b2b18e835aaac58b2bc3cb018bc782e252b9161dca8174961ca498ce2", 28691),
        _beam(19, "chat.json", "4c6dd78fa5aa6bd645eab8a3f041eac290c87564fd822582477c8e446979850f", 806876),
        _beam(20, "chat_trunecated.json", "774a329b9c43eba22145aadd43203ab6d9a31c1486c70b10b1e2d40908b46758", 638168),
        _beam(20, "probing_questions.json", "46b679bffff904fd71ed247f5172e9a4a30ed7eb2fdaacc1d89aac0932e5f043", 30564),
        _beam(20, "chat.json", "af49a279c8ca5eef5829f8155bca89b41b05fb33fef438dce0a6cac8d99a7802", 894533),
    ),
)

DATASETS: dict[str, Dataset] = {d.name: d for d in (LOCOMO, BEAM)}
