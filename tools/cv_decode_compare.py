"""Compare Osprey's decoded pixels (from examples/decode_dump) with cv2.imread."""
import sys, glob, os
import cv2, numpy as np
d = sys.argv[1]
n_exact = 0; worst = []
files = sorted(glob.glob(os.path.join(d, '*.txt')), key=lambda p: int(os.path.basename(p)[:-4]))
for t in files:
    w, h, path = open(t).read().split(' ', 2)
    ours = np.fromfile(t[:-4] + '.rgb', dtype=np.uint8).reshape(int(h), int(w), 3)
    ref = cv2.imread(path)[..., ::-1]
    if ref.shape != ours.shape:
        print('SHAPE', path, ref.shape, ours.shape); continue
    diff = np.abs(ref.astype(int) - ours.astype(int))
    if diff.max() == 0: n_exact += 1
    worst.append((diff.max(), (diff > 0).mean(), path))
worst.sort(reverse=True)
print(f'{n_exact}/{len(files)} bit-exact; worst: {worst[:5]}')
