#!/usr/bin/env bash
# Builds the seed corpus of a fuzz target from the shared pabulib elections, at
# run time (the data is not copied into the repository):
#
#   fuzz/seeds.sh TARGET        fills fuzz/corpus/TARGET/ (kept if it has files)
#
# Seeds: the four smallest files of each vote type, the first 6 KB of files
# with promises to break (max_sum_cost, min_sum_points, a repeated project,
# per-category bounds), and a few hand-written files. The data is
# at $MEDBORGARBUDGET_PABULIB, else ../shared/pabulib next to the checkout, else
# /work/shared/pabulib; without it only the hand-written seeds are used.
set -euo pipefail
cd "$(dirname "$0")"
target="${1:?usage: seeds.sh TARGET}"
corpus="corpus/$target"
mkdir -p "$corpus"
if [ -n "$(ls -A "$corpus")" ]; then
  echo "seeds: $corpus already has $(ls "$corpus" | wc -l) inputs"
  exit 0
fi

data=""
for d in "${MEDBORGARBUDGET_PABULIB:-}" ../../shared/pabulib /work/shared/pabulib; do
  if [ -n "$d" ] && [ -d "$d/files" ]; then data="$d/files"; break; fi
done

if [ -n "$data" ]; then
  for type in approval choose-1 cumulative ordinal; do
    grep -l "^vote_type;$type" "$data"/*.pb | xargs ls -S | tail -4 | while read -r f; do
      cp "$f" "$corpus/"
    done
  done
  # Files with promises to break, cut after 6 KB (at a line end) to stay small.
  for name in Poland_Warszawa_2018_Kamionek.pb Worldwide_Mechanical_Turk_Utilities_3.pb \
              Poland_Warszawa_2026_Miedzylesie_Radosc.pb Netherlands_Amsterdam_604.pb; do
    if [ -f "$data/$name" ]; then
      head -c 6000 "$data/$name" | sed '$d' > "$corpus/head_$name"
    fi
  done
  chmod u+w "$corpus"/*
else
  echo "seeds: no pabulib data found; hand-written seeds only"
fi

printf 'META\nkey;value\nbudget;100\nvote_type;choose-1\nnum_votes;3\nPROJECTS\nproject_id;cost;category\n1;10;a\n2;20;a,b\nVOTES\nvoter_id;vote\n7;1\n7;1,2\n"8";2\n' \
  > "$corpus/choose1_repeated_voter.pb"
printf 'META\nkey;value\nbudget;10.5\nvote_type;cumulative\nmax_sum_points;10\nmin_points;1\nmax_sum_cost;20\nPROJECTS\nproject_id;cost\nc1;5.25\nc2;5\nVOTES\nvoter_id;vote;points\n1;c1,c1;4294967295,4294967295\n2;c2,c1;3,0\n' \
  > "$corpus/cumulative_bounds.pb"
printf 'META\nkey;value\nbudget;30\nvote_type;ordinal\nmin_length;2\nmax_length;2\ncategories;a,b\nmax_sum_cost_per_category;15,20\nmin_length_per_category;1\nPROJECTS\nproject_id;cost;category\n1;10;a\n2;20;b\n3;5;a,b\nVOTES\nvoter_id;vote\n1;2,1,3\n2;3\n' \
  > "$corpus/ordinal_categories.pb"
echo "seeds: $(ls "$corpus" | wc -l) inputs in $corpus"
