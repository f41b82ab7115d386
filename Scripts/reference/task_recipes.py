#!/usr/bin/env python3
"""The issue's task recipes in PyTorch, to compare metric and training time with `recurrent train` on the
same machine in the same conditions.

    python Scripts/reference/task_recipes.py digits --data ../shared/data/digits8x8/digits_train.csv --model mlp
    python Scripts/reference/task_recipes.py digits --data ../shared/data/mnist-test28 --model cnn --epochs 10
    python Scripts/reference/task_recipes.py sentiment --data ../shared/data/sentiment/amazon_yelp.tsv
    python Scripts/reference/task_recipes.py translate --data ../shared/data/translation-en-fr/eng-fra.tsv
    python Scripts/reference/task_recipes.py charlm --data ../shared/data/tinyshakespeare/train.txt

Prints one JSON line: task, metric, value, examples, seconds (training only). Splits follow Recurrent's rules
(stratified 20 % for classifiers, a tenth of distinct source sentences for translation, the last tenth of the
text for charlm) but not its exact random draws; for translate, --held-out FILE takes the split a Recurrent run wrote
(its held-out.tsv). Threads: --threads (default 2).
"""
import argparse, json, math, os, random, struct, time
import torch
import torch.nn as nn
import torch.nn.functional as F


def tokens(text):
    # Lower-case; runs of letters, runs of digits, every other non-space character alone.
    out, current, kind = [], "", None
    for ch in text.lower():
        if ch.isspace():
            if current: out.append(current)
            current, kind = "", None
        elif ch.isalpha() or ch.isdigit():
            k = "a" if ch.isalpha() else "d"
            if current and kind != k: out.append(current); current = ""
            current += ch; kind = k
        else:
            if current: out.append(current)
            out.append(ch); current, kind = "", None
    if current: out.append(current)
    return out


def stratified(labels, fraction, seed):
    rng = random.Random(seed)
    train, held = [], []
    for label in sorted(set(labels)):
        members = [i for i, l in enumerate(labels) if l == label]
        rng.shuffle(members)
        cut = int(len(members) * fraction)
        held += members[:cut]; train += members[cut:]
    rng.shuffle(train); rng.shuffle(held)
    return train, held


def vocabulary(sequences, minimum):
    counts = {}
    for s in sequences:
        for t in s: counts[t] = counts.get(t, 0) + 1
    kept = sorted((t for t, c in counts.items() if c >= minimum), key=lambda t: (-counts[t], t))
    return {t: i + 4 for i, t in enumerate(kept)}   # 0 pad, 1 unk, 2 bos, 3 eos


def bleu(candidates, references):
    matches, totals, c_len, r_len = [0] * 4, [0] * 4, 0, 0
    for cand, ref in zip(candidates, references):
        c_len += len(cand); r_len += len(ref)
        for n in range(1, 5):
            cg, rg = {}, {}
            for i in range(len(cand) - n + 1): cg[tuple(cand[i:i + n])] = cg.get(tuple(cand[i:i + n]), 0) + 1
            for i in range(len(ref) - n + 1): rg[tuple(ref[i:i + n])] = rg.get(tuple(ref[i:i + n]), 0) + 1
            matches[n - 1] += sum(min(c, rg.get(g, 0)) for g, c in cg.items())
            totals[n - 1] += max(0, len(cand) - n + 1)
    if c_len == 0 or min(matches) == 0: return 0.0
    log_p = sum(math.log(m / t) for m, t in zip(matches, totals)) / 4
    bp = 1.0 if c_len > r_len else math.exp(1 - r_len / c_len)
    return 100 * bp * math.exp(log_p)


def digits(args):
    if args.data.endswith(".csv"):
        rows = [list(map(float, line.split(","))) for line in open(args.data).read().splitlines()[1:]]
        labels = [int(r[0]) for r in rows]; pixels = torch.tensor([r[1:] for r in rows]) / 16; side = 8
    else:
        raw = open(os.path.join(args.data, "images.idx3-ubyte"), "rb").read()
        count, side = struct.unpack(">I", raw[4:8])[0], struct.unpack(">I", raw[8:12])[0]
        pixels = torch.tensor(list(raw[16:]), dtype=torch.float32).view(count, side * side) / 255
        labels = list(open(os.path.join(args.data, "labels.idx1-ubyte"), "rb").read()[8:])
    train, held = stratified(labels, 0.2, 1)
    y = torch.tensor(labels)
    if args.model == "cnn":
        pad = 1 if side < 16 else 0
        s = ((side - 2 + 2 * pad) // 2 - 2 + 2 * pad) // 2
        model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=pad), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=pad), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * s * s, 10))
        x = pixels.view(-1, 1, side, side)
    else:
        model = nn.Sequential(nn.Linear(side * side, 128), nn.ReLU(), nn.Linear(128, 10)); x = pixels
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    epochs = args.epochs or (40 if side == 8 else (10 if args.model == "cnn" else 20))
    started = time.time()
    for _ in range(epochs):
        order = torch.tensor(train)[torch.randperm(len(train))]
        for i in range(0, len(order), 32):
            b = order[i:i + 32]
            optimizer.zero_grad(); F.cross_entropy(model(x[b]), y[b]).backward(); optimizer.step()
    seconds = time.time() - started
    with torch.no_grad():
        accuracy = (model(x[held]).argmax(1) == y[held]).float().mean().item()
    return {"task": "digits", "metric": "accuracy", "value": accuracy, "examples": len(held), "seconds": seconds}


def sentiment(args):
    lines = [l.split("\t", 1) for l in open(args.data, encoding="utf-8").read().splitlines() if l]
    labels = [int(l[0]) for l in lines]; sentences = [tokens(l[1]) for l in lines]
    train, held = stratified(labels, 0.2, 1)
    vocab = vocabulary([sentences[i] for i in train], 2)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(len(vocab) + 4, 64, padding_idx=0)
            self.lstm = nn.LSTM(64, 64, batch_first=True); self.output = nn.Linear(64, 1)
        def forward(self, ids, lengths):
            packed = nn.utils.rnn.pack_padded_sequence(self.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
            _, (h, _) = self.lstm(packed)
            return self.output(h[-1]).squeeze(1)

    def batch(rows):
        seqs = [[vocab.get(t, 1) for t in sentences[r]] for r in rows]
        width = max(map(len, seqs))
        return torch.tensor([s + [0] * (width - len(s)) for s in seqs]), torch.tensor([len(s) for s in seqs]), torch.tensor([float(labels[r]) for r in rows])

    model = Model(); optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    started = time.time()
    for _ in range(args.epochs or 15):
        order = train[:]; random.shuffle(order)
        for i in range(0, len(order), 32):
            ids, lengths, target = batch(order[i:i + 32])
            optimizer.zero_grad(); F.binary_cross_entropy_with_logits(model(ids, lengths), target).backward(); optimizer.step()
    seconds = time.time() - started
    with torch.no_grad():
        ids, lengths, target = batch(held)
        accuracy = ((model(ids, lengths) > 0).float() == target).float().mean().item()
    return {"task": "sentiment", "metric": "accuracy", "value": accuracy, "examples": len(held), "seconds": seconds}


def translate(args):
    pairs = [l.split("\t")[:2] for l in open(args.data, encoding="utf-8").read().splitlines() if l]
    groups = {}
    for i, (s, _) in enumerate(pairs): groups.setdefault(s, []).append(i)
    keys = sorted(groups); random.Random(1).shuffle(keys)
    if args.held_out:   # Recurrent's own split: the held-out.tsv its translate run writes
        chosen = {l.split("\t")[0] for l in open(args.held_out, encoding="utf-8").read().splitlines() if l}
        keys = [k for k in keys if k in chosen] + [k for k in keys if k not in chosen]
        cut = len(chosen)
    else:
        cut = len(keys) // 10
    held = sorted(i for k in keys[:cut] for i in groups[k]); train = sorted(i for k in keys[cut:] for i in groups[k])
    src = [tokens(s) for s, _ in pairs]; tgt = [tokens(t) for _, t in pairs]
    sv, tv = vocabulary([src[i] for i in train], 2), vocabulary([tgt[i] for i in train], 2)
    inverse = {i: t for t, i in tv.items()}
    H = 256

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.se, self.te = nn.Embedding(len(sv) + 4, H, padding_idx=0), nn.Embedding(len(tv) + 4, H, padding_idx=0)
            self.encoder, self.decoder = nn.GRU(H, H, batch_first=True), nn.GRU(H, H, batch_first=True)
            self.attention = nn.Linear(H, H, bias=False); self.combine = nn.Linear(2 * H, H); self.output = nn.Linear(H, len(tv) + 4)
            self.drop = nn.Dropout(args.dropout)   # embeddings and the output layer's input, as Recurrent does
        def encode(self, ids, lengths):
            packed = nn.utils.rnn.pack_padded_sequence(self.drop(self.se(ids)), lengths, batch_first=True, enforce_sorted=False)
            out, h = self.encoder(packed)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
            return out, h
        def decode(self, inputs, state, enc, mask):
            out, state = self.decoder(self.drop(self.te(inputs)), state)
            scores = out @ self.attention(enc).transpose(1, 2)
            weights = scores.masked_fill(~mask[:, None, :], -1e9).softmax(-1)
            return self.output(self.drop(torch.tanh(self.combine(torch.cat([weights @ enc, out], -1))))), state

    def pad(seqs):
        width = max(map(len, seqs))
        return torch.tensor([s + [0] * (width - len(s)) for s in seqs])

    model = Model(); optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    started = time.time()
    for _ in range(args.epochs or 12):
        order = train[:]; random.shuffle(order)
        for i in range(0, len(order), 64):
            rows = order[i:i + 64]
            s = [[sv.get(t, 1) for t in src[r]] for r in rows]; t = [[tv.get(w, 1) for w in tgt[r]] + [3] for r in rows]
            ids, lengths = pad(s), torch.tensor([len(x) for x in s])
            enc, h = model.encode(ids, lengths)
            logits, _ = model.decode(pad([[2] + x[:-1] for x in t]), h, enc, ids != 0)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), pad(t).reshape(-1), ignore_index=0)
            optimizer.zero_grad(); loss.backward(); nn.utils.clip_grad_norm_(model.parameters(), 1.0); optimizer.step()
    seconds = time.time() - started
    candidates = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(held), 256):
            rows = held[i:i + 256]
            s = [[sv.get(t, 1) for t in src[r]] for r in rows]
            ids = pad(s); enc, h = model.encode(ids, torch.tensor([len(x) for x in s]))
            last, outs, done = torch.full((len(rows), 1), 2), [[] for _ in rows], [False] * len(rows)
            for _ in range(2 * ids.shape[1] + 10):
                logits, h = model.decode(last, h, enc, ids != 0)
                last = logits.argmax(-1)
                for j, token in enumerate(last[:, 0].tolist()):
                    if done[j]: continue
                    if token == 3: done[j] = True
                    else: outs[j].append(inverse.get(token, "<unk>"))
                if all(done): break
            candidates += outs
    return {"task": "translate", "metric": "bleu4", "value": bleu(candidates, [tgt[r] for r in held]), "examples": len(held),
            "seconds": seconds, "decoding": "greedy"}


def charlm(args):
    text = open(args.data, encoding="utf-8").read()
    cut = text.find("\n", len(text) * 9 // 10) + 1
    alphabet = sorted(set(text[:cut])); index = {c: i for i, c in enumerate(alphabet)}
    train = torch.tensor([index[c] for c in text[:cut]]); held = torch.tensor([index.get(c, 0) for c in text[cut:]])
    V, T = len(alphabet), 100

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(V, 256, num_layers=2, batch_first=True); self.output = nn.Linear(256, V)
        def forward(self, x):
            out, _ = self.lstm(F.one_hot(x, V).float())
            return self.output(out)

    model = Model(); optimizer = torch.optim.Adam(model.parameters(), 2e-3)
    starts = list(range(0, len(train) - T - 1, T))
    steps, done = args.steps or 4500, 0
    started = time.time()
    while done < steps:
        random.shuffle(starts)
        for i in range(0, len(starts) - 31, 32):
            b = torch.tensor(starts[i:i + 32])
            x = train[b[:, None] + torch.arange(T)]; y = train[b[:, None] + torch.arange(1, T + 1)]
            loss = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1))
            optimizer.zero_grad(); loss.backward(); nn.utils.clip_grad_norm_(model.parameters(), 5.0); optimizer.step()
            done += 1
            if done >= steps: break
    seconds = time.time() - started
    total, count = 0.0, 0
    with torch.no_grad():
        hs = list(range(0, len(held) - T - 1, T))
        for i in range(0, len(hs), 64):
            b = torch.tensor(hs[i:i + 64])
            x = held[b[:, None] + torch.arange(T)]; y = held[b[:, None] + torch.arange(1, T + 1)]
            total += F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1), reduction="sum").item(); count += y.numel()
    return {"task": "charlm", "metric": "nats_per_char", "value": total / count, "examples": count, "seconds": seconds}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=["digits", "sentiment", "translate", "charlm"])
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", default="mlp", choices=["mlp", "cnn"])
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--steps", type=int, help="charlm: training steps (default 4500)")
    parser.add_argument("--dropout", type=float, default=0.3, help="translate: dropout on embeddings and before the output layer")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--held-out", help="translate: hold out the source sentences of this TSV (a Recurrent run's held-out.tsv)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads); torch.manual_seed(args.seed); random.seed(args.seed)
    print(json.dumps({"digits": digits, "sentiment": sentiment, "translate": translate, "charlm": charlm}[args.task](args)))
