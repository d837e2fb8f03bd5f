"""Times pabutools in-process (parse + rule, no interpreter start-up), to set
beside the whole `medborgarbudget tally` process.

    python3 -m pip install pabutools==1.2.3
    python3 benches/peers/time_pabutools.py Poland_Lodz_2022.pb,Poland_Krakow_2024.pb greedy,mes
    perf stat -r 20 target/release/medborgarbudget tally --rule mes ../shared/pabulib/files/Poland_Lodz_2022.pb

Files are read from $MEDBORGARBUDGET_PABULIB/files (default ../shared/pabulib).
"""
import os
import sys
import time

from pabutools.election import Cost_Sat, parse_pabulib
from pabutools.rules import greedy_utilitarian_welfare, method_of_equal_shares, sequential_phragmen

FILES = os.path.join(os.environ.get("MEDBORGARBUDGET_PABULIB", "../shared/pabulib"), "files")


def run(name, rule):
    t0 = time.perf_counter()
    instance, profile = parse_pabulib(os.path.join(FILES, name))
    t1 = time.perf_counter()
    if rule == "greedy":
        out = greedy_utilitarian_welfare(instance, profile, sat_class=Cost_Sat)
    elif rule == "mes":
        out = method_of_equal_shares(instance, profile, sat_class=Cost_Sat)
    elif rule == "phragmen":
        out = sequential_phragmen(instance, profile)
    else:
        raise ValueError(f"unknown rule {rule}")
    t2 = time.perf_counter()
    print(f"{name}\t{rule}\tparse {t1 - t0:.3f} s\trule {t2 - t1:.3f} s\t"
          f"total {t2 - t0:.3f} s\t{len(out)} funded", flush=True)


def main():
    for name in sys.argv[1].split(","):
        for rule in sys.argv[2].split(","):
            try:
                run(name, rule)
            except Exception as e:  # report and go on with the next
                print(f"{name}\t{rule}\terror {type(e).__name__}: {e}", flush=True)


if __name__ == "__main__":
    main()
