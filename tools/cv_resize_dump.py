"""Dump cv2.resize(INTER_LINEAR) results for examples/resize_compare (bit-exactness check)."""
import cv2, numpy as np, sys
rng = np.random.default_rng(0)
cases = [((37,23),(320,213)), ((23,37),(11,7)), ((640,427),(320,214)), ((810,1080),(240,320)), ((810,1080),(480,640)), ((2,1),(4,1)), ((500,333),(320,213)), ((1920,1080),(320,180)), ((640,480),(320,240)), ((100,75),(320,240)), ((641,479),(320,239))]
out = open(sys.argv[1] if len(sys.argv) > 1 else 'cvresize.bin', 'wb')
for (sw,sh),(dw,dh) in cases:
    img = rng.integers(0,256,(sh,sw,3),dtype=np.uint8)
    for interp in (cv2.INTER_LINEAR,):
        r = cv2.resize(img,(dw,dh),interpolation=interp)
        out.write(np.array([sw,sh,dw,dh,interp],dtype=np.int32).tobytes()); out.write(img.tobytes()); out.write(r.tobytes())
print(cv2.__version__, cv2.getBuildInformation().split('CPU/HW features')[1][:300] if 'CPU/HW' in cv2.getBuildInformation() else '')
