"""Simulated SNP genotypes that follow the pedigree (Mendelian transmission).

Allele frequencies p_j of the counted allele are drawn uniform on [``P_LOW``, ``P_HIGH``]. Every
animal carries two haplotypes: one from its sire, one from its dam; a parent recorded as unknown
is replaced by a base-population gamete (each allele 1 with probability p_j, independently). A
parent's gamete takes each SNP from one of its two haplotypes:

- unlinked (default): independently at every SNP with probability ½;
- with ``ld``: SNPs lie on ``CHROMOSOMES`` chromosomes of ``MORGANS`` Morgan at sorted uniform
  positions; a gamete starts on a random haplotype of each chromosome and switches at
  Poisson(``MORGANS``) uniform crossovers (Haldane's model), so linked SNPs travel together and
  drift builds linkage disequilibrium.

With ``history = T > 0`` the base gametes carry linkage disequilibrium as a real population's
do: ``HISTORY_SIZE`` animals, founded with alleles drawn with p_j, mate at random (Wright–Fisher,
the same gamete model) for T generations before the pedigree starts, and a base gamete is a
gamete of a random animal of that last historical generation. p_j is then that generation's
allele frequency (drift may have fixed some loci), the frequency a base gamete carries.

Genotypes (0/1/2 = copies of the counted allele) are kept for a random ``fraction`` of the
animals. Haplotypes are stored bit-packed (m / 8 bytes each); animals are processed cohort by
cohort (parents are always in earlier cohorts), in blocks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from henderson.genotypes import Genotypes

P_LOW, P_HIGH = 0.05, 0.95
CHROMOSOMES = 10
MORGANS = 1.0
CHROMOSOME_BP = 100_000_000
HISTORY_SIZE = 100
"""Animals per generation of the historical population (``history > 0``)."""
_BLOCK = 2048


def snp_names(m: int) -> np.ndarray:
    """``snp00001``, ``snp00002``, ... (at least 5 digits)."""
    width = max(5, len(str(m)))
    return np.array([f"snp{k:0{width}d}" for k in range(1, m + 1)], dtype=object)


def _layout(m: int, ld: bool, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(chromosome (m,) int, position (m,) in Morgan within the chromosome, sorted)."""
    chromosomes = CHROMOSOMES if ld else 1
    chromosome = np.repeat(np.arange(1, chromosomes + 1), np.diff(np.linspace(0, m, chromosomes + 1).astype(int)))
    position = np.empty(m)
    for c in range(1, chromosomes + 1):
        where = chromosome == c
        position[where] = np.sort(rng.uniform(0.0, MORGANS, where.sum()))
    return chromosome, position


def _origin(k: int, chromosome: np.ndarray, position: np.ndarray, ld: bool,
            rng: np.random.Generator) -> np.ndarray:
    """(k, m) bool: for each of k gametes, whether each SNP comes from the parent's second
    haplotype."""
    m = chromosome.size
    if not ld:
        return np.unpackbits(rng.integers(0, 256, (k, (m + 7) // 8), dtype=np.uint8), axis=1, count=m).astype(bool)
    out = np.empty((k, m), dtype=bool)
    for c in np.unique(chromosome):
        cols = np.flatnonzero(chromosome == c)
        pos = position[cols]
        n_cross = rng.poisson(MORGANS, k)
        gamete = np.repeat(np.arange(k), n_cross)
        at = np.searchsorted(pos, rng.uniform(0.0, MORGANS, n_cross.sum()))
        toggles = np.zeros((k, cols.size + 1), dtype=np.int32)
        np.add.at(toggles, (gamete, at), 1)
        start = rng.integers(0, 2, k)
        out[:, cols] = ((np.cumsum(toggles[:, :-1], axis=1) + start[:, None]) % 2).astype(bool)
    return out


class GeneDropping:
    """Haplotypes of ``n`` animals at ``n_loci`` loci, filled cohort by cohort (module docstring).

    Attributes:
        frequencies: (L,) base-population frequency p of the counted allele at each locus.
        chromosome: (L,) int chromosome of each locus; position: (L,) in Morgan, sorted within it.
        haplotypes: (n, 2, ceil(L / 8)) uint8, bit-packed; side 0 from the sire, 1 from the dam.

    The constructor draws p, the layout and (``history`` generations > 0) the historical
    population from ``rng``; :meth:`drop` draws the gametes."""

    def __init__(self, n: int, n_loci: int, rng: np.random.Generator, *, ld: bool = False,
                 history: int = 0) -> None:
        self.n_loci = int(n_loci)
        self.ld = bool(ld)
        self._rng = rng
        self.frequencies = rng.uniform(P_LOW, P_HIGH, self.n_loci)
        self.chromosome, self.position = _layout(self.n_loci, self.ld, rng)
        self._pool = None  # (HISTORY_SIZE, 2, L) bool: the last historical generation
        if history:
            self._pool = self._historical_population(int(history))
            self.frequencies = self._pool.mean(axis=(0, 1))
        self.haplotypes = np.zeros((n, 2, (self.n_loci + 7) // 8), dtype=np.uint8)

    def _historical_population(self, generations: int) -> np.ndarray:
        """Haplotypes (HISTORY_SIZE, 2, L) after ``generations`` of random mating (parents drawn
        with replacement, selfing included) from founders in linkage equilibrium."""
        rng, size = self._rng, HISTORY_SIZE
        pool = rng.random((size, 2, self.n_loci)) < self.frequencies
        for _ in range(generations):
            pool = np.stack([self._gametes(pool[rng.integers(0, size, size)]) for _ in range(2)], axis=1)
        return pool

    def _gametes(self, parents: np.ndarray) -> np.ndarray:
        """(k, L) bool: one gamete of each of k parents with haplotypes ``parents`` (k, 2, L)."""
        second = _origin(parents.shape[0], self.chromosome, self.position, self.ld, self._rng)
        return np.where(second, parents[:, 1], parents[:, 0])

    def _base_gametes(self, k: int) -> np.ndarray:
        """(k, L) bool gametes of unrecorded base animals: alleles drawn with p (linkage
        equilibrium), or gametes of random animals of the historical population."""
        if self._pool is None:
            return self._rng.random((k, self.n_loci)) < self.frequencies
        return self._gametes(self._pool[self._rng.integers(0, HISTORY_SIZE, k)])

    def drop(self, members: np.ndarray, sire: np.ndarray, dam: np.ndarray) -> None:
        """Fill the haplotypes of the rows ``members`` (one cohort) from their parents'.

        ``sire``, ``dam``: (n,) int64 parent rows of every animal, -1 unknown (a base gamete); the
        parents of ``members`` must be filled already. Works in blocks of about 8 MiB of alleles."""
        m = self.n_loci
        step = max(16, (8 << 20) // max(1, m))
        for start in range(0, members.size, step):
            block = members[start:start + step]
            for side, parents in enumerate((sire[block], dam[block])):
                gamete = np.empty((block.size, m), dtype=bool)
                known = parents >= 0
                if (~known).any():  # base-population gametes for unknown parents
                    gamete[~known] = self._base_gametes(int((~known).sum()))
                if known.any():
                    hap = np.unpackbits(self.haplotypes[parents[known]], axis=2, count=m).astype(bool)
                    gamete[known] = self._gametes(hap)
                self.haplotypes[block, side] = np.packbits(gamete, axis=1)

    def alleles(self, rows: np.ndarray, loci: np.ndarray) -> np.ndarray:
        """(len(rows), 2, len(loci)) uint8: the alleles (0/1) of both haplotypes at ``loci``,
        read from the packed bits without unpacking the other loci."""
        loci = np.asarray(loci, dtype=np.int64)
        packed = self.haplotypes[np.asarray(rows)][:, :, loci >> 3]
        return (packed >> (7 - (loci & 7)).astype(np.uint8)) & 1

    def codes(self, rows: np.ndarray, loci: np.ndarray | None = None) -> np.ndarray:
        """(len(rows), len(loci)) int8 genotypes 0/1/2 (copies of the counted allele) at ``loci``
        (default: all), a block of about 64 MiB of alleles at a time."""
        rows = np.asarray(rows, dtype=np.int64)
        m = self.n_loci if loci is None else len(loci)
        out = np.empty((rows.size, m), dtype=np.int8)
        step = max(16, (64 << 20) // max(1, 2 * self.n_loci))
        for start in range(0, rows.size, step):
            part = rows[start:start + step]
            if loci is None:
                bits = np.unpackbits(self.haplotypes[part], axis=2, count=m)
            else:
                bits = self.alleles(part, loci)
            out[start:start + part.size] = bits.sum(axis=1, dtype=np.int8)
        return out

    def genotypes(self, ids: np.ndarray, rows: np.ndarray, loci: np.ndarray, names: np.ndarray) -> Genotypes:
        """:class:`Genotypes` of the animals ``rows`` (IDs ``ids[rows]``) at ``loci``, named
        ``names``, with chromosome and position in bp (``position * CHROMOSOME_BP``, 1-based)."""
        loci = np.asarray(loci, dtype=np.int64)
        return Genotypes(
            ids=np.asarray(ids, dtype=object)[rows], snps=names,
            codes=self.codes(rows, None if loci.size == self.n_loci else loci),
            chromosome=self.chromosome[loci].astype(str).astype(object), position=self.base_pairs()[loci],
        )

    def base_pairs(self) -> np.ndarray:
        """(L,) int64 position in bp within the chromosome (1 .. ``CHROMOSOME_BP``)."""
        return np.floor(self.position / MORGANS * (CHROMOSOME_BP - 1)).astype(np.int64) + 1

    def locus_table(self, loci: np.ndarray, names: np.ndarray, name_column: str = "snp") -> pd.DataFrame:
        """One row per locus of ``loci``: name, chromosome, position (bp), allele_frequency (p)."""
        return pd.DataFrame({name_column: names, "chromosome": self.chromosome[loci],
                             "position": self.base_pairs()[loci], "allele_frequency": self.frequencies[loci]})


def drop_pedigree(pedigree: pd.DataFrame, n_loci: int, rng: np.random.Generator, *, ld: bool = False,
                  history: int = 0) -> GeneDropping:
    """Gene dropping through a whole pedigree table (columns id, sire, dam with "0" unknown,
    birth_year; parents born in earlier years), one birth year at a time."""
    n = len(pedigree)
    genome = GeneDropping(n, n_loci, rng, ld=ld, history=history)
    row = pd.Series(np.arange(n), index=pedigree["id"].astype(str).to_numpy())
    sire = row.reindex(pedigree["sire"].astype(str).to_numpy()).fillna(-1).to_numpy(np.int64)
    dam = row.reindex(pedigree["dam"].astype(str).to_numpy()).fillna(-1).to_numpy(np.int64)
    years = pedigree["birth_year"].to_numpy()
    for year in np.unique(years):
        genome.drop(np.flatnonzero(years == year), sire, dam)
    return genome


def choose_genotyped(n: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted rows of a random ``round(fraction * n)`` of ``n`` animals."""
    return np.sort(rng.choice(n, round(fraction * n), replace=False))


def simulate_genotypes(
    pedigree: pd.DataFrame, fraction: float, n_snps: int, rng: np.random.Generator, *, ld: bool = False,
    history: int = 0,
) -> tuple[Genotypes, pd.DataFrame]:
    """Genotypes of a random ``fraction`` of the pedigree's animals at ``n_snps`` SNPs, and the
    SNP table (snp, chromosome, position in bp, allele_frequency = the drawn p_j).

    ``pedigree``: columns id, sire, dam ("0" unknown), birth_year; parents born in earlier
    years (as :func:`henderson.simulate.simulate_pedigree` makes them); ``history``: generations
    of the historical population (module docstring)."""
    genome = drop_pedigree(pedigree, n_snps, rng, ld=ld, history=history)
    chosen = choose_genotyped(len(pedigree), fraction, rng)
    loci, names = np.arange(int(n_snps)), snp_names(int(n_snps))
    ids = pedigree["id"].astype(str).to_numpy(dtype=object)
    return genome.genotypes(ids, chosen, loci, names), genome.locus_table(loci, names)


def write_genotype_csv(genotypes: Genotypes, path, id_column: str = "id", missing: str = "") -> None:
    """Write an ID column and one 0/1/2 column per SNP, comma separated; a missing call as
    ``missing`` (empty, or one character such as ``9``). Rows are formatted as byte arrays, a
    block at a time."""
    m = genotypes.shape[1]
    if len(missing) > 1:
        raise ValueError("missing must be empty or one character")
    with open(path, "wb") as handle:
        handle.write((",".join([id_column, *map(str, genotypes.snps)]) + "\n").encode())
        for start in range(0, genotypes.shape[0], _BLOCK):
            codes = genotypes.codes[start:start + _BLOCK]
            text = np.full((codes.shape[0], 2 * m + 1), ord(","), dtype=np.uint8)
            text[:, 1:2 * m:2] = np.where(codes >= 0, codes + ord("0"), ord(missing or "\0")).astype(np.uint8)
            text[:, -1] = ord("\n")
            for animal, line in zip(genotypes.ids[start:start + _BLOCK], text, strict=True):
                handle.write(str(animal).encode())
                handle.write(line.tobytes().replace(b"\0", b""))


def write_genotype_plink(genotypes: Genotypes, path) -> None:
    """Write PLINK .bed/.bim/.fam (``path`` ends in .bed) with bed-reader (allele 1 counted)."""
    from bed_reader import to_bed

    codes = np.where(genotypes.codes >= 0, genotypes.codes, -127).astype(np.int8)
    properties = {"iid": [str(v) for v in genotypes.ids], "fid": [str(v) for v in genotypes.ids],
                  "sid": [str(v) for v in genotypes.snps]}
    if genotypes.chromosome is not None:
        properties["chromosome"] = [str(v) for v in genotypes.chromosome]
    if genotypes.position is not None:
        properties["bp_position"] = np.asarray(genotypes.position, dtype=np.int32)
    to_bed(str(path), codes, properties=properties, count_A1=True)
