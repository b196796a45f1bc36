-- tau.data: the data-set constructors on generated files in every supported layout, subsets,
-- seeded loaders (order, resume, augmentation, normalisation), the errors users meet with
-- broken or missing files, and, when present, the real data sets.
local T = ...
package.path = "tests/lua/?.lua;" .. package.path
local fx = require "fixtures"
local data = tau.data

local tmp = fx.root()
local n_dirs = 0
local function dir()
  n_dirs = n_dirs + 1
  local d = tmp .. "/d" .. n_dirs
  fx.mkdir(d)
  return d
end

local function image_tensor(bytes, c, h, w)
  local v = {}
  for i = 1, #bytes do v[i] = bytes:byte(i) / 255 end
  return tau.tensor(v):view(c, h, w)
end

local function list_of(t) return tau.is_tensor(t) and t:totable() or t end

local function same_list(a, b, msg)
  a, b = list_of(a), list_of(b)
  T.eq(#a, #b, (msg or "list") .. " length")
  for i = 1, #a do T.eq(a[i], b[i], (msg or "list") .. " at " .. i) end
end

local function check_image(x, c, h, w)
  T.ok(tau.is_tensor(x), "image is a tensor")
  T.eq(x:dtype(), "float32")
  same_list(x:size(), {c, h, w}, "image shape")
  T.ok(x:min():item() >= 0 and x:max():item() <= 1, "pixels in [0, 1]")
end

-- Collects every batch of a loader.
local function drain(loader)
  local xs, ys = {}, {}
  for x, y in loader do xs[#xs + 1], ys[#ys + 1] = x, y end
  return xs, ys
end

------------------------------------------------------------------------ Fashion-MNIST

local FMNIST = "/usr/share/datasets/fashion-mnist"
local have_fmnist = fx.exists(FMNIST .. "/train-images-idx3-ubyte.gz")

T.test("data.fashion_mnist reads Debian's files (train and test)", function()
  if not have_fmnist then T.skip("Fashion-MNIST not installed at " .. FMNIST) end
  local tr = data.fashion_mnist{split = "train"}
  local te = data.fashion_mnist{split = "test"}
  T.eq(tr:size(), 60000)
  T.eq(#te, 10000)
  T.eq(tr.classes, 10)
  T.eq(tr.class_names[1], "T-shirt/top")
  T.eq(tr.class_names[10], "Ankle boot")
  local x, y = te:get(1)
  check_image(x, 1, 28, 28)
  T.eq(y, 10, "the first test image is an ankle boot")
  local l = te:labels()
  T.eq(l:dtype(), "int32")
  T.eq(l:min():item(), 1)
  T.eq(l:max():item(), 10)
  -- the test set is balanced: 1000 per class
  local counts = tau.one_hot(l, 10):sum(1):totable()
  for c = 1, 10 do T.eq(counts[c], 1000, "class " .. c) end
  T.eq(tostring(data.fashion_mnist()), tostring(tr), "train is the default split")
end)

T.test("data.fashion_mnist{root} reads another folder of IDX files", function()
  local root = dir()
  fx.write_idx(root, "t10k", {n = 7, h = 5, w = 6, classes = 10})
  local ds = data.fashion_mnist{root = root, split = "test"}
  T.eq(ds:size(), 7)
  T.eq(ds.width, 6)
  T.eq(ds.height, 5)
  T.eq(ds.class_names[2], "Trouser")
  T.raises(function() data.fashion_mnist{root = root, split = "train"} end,
           "tau.data.fashion_mnist", root .. "/train-images-idx3-ubyte")
end)

------------------------------------------------------------------------ MNIST / IDX

T.test("data.mnist{root} reads raw IDX files: pixels, labels, sizes", function()
  local root = dir()
  local ip, _, y = fx.write_idx(root, "train", {n = 9, h = 7, w = 5, classes = 4, seed = 11})
  local ds = data.mnist{root = root}
  T.eq(ds:size(), 9)
  T.eq(#ds, 9)
  T.eq(ds.channels, 1)
  T.eq(ds.height, 7)
  T.eq(ds.width, 5)
  T.eq(ds.classes, 10)
  T.eq(ds.class_names[1], "0")
  same_list(ds:labels(), y, "labels")
  local raw = fx.read(ip)
  for i = 1, 9 do
    local x, l = ds:get(i)
    check_image(x, 1, 7, 5)
    T.eq(l, y[i], "label " .. i)
    local bytes = raw:sub(16 + (i - 1) * 35 + 1, 16 + i * 35)
    T.ok(tau.equal(x, image_tensor(bytes, 1, 7, 5)), "pixels of image " .. i .. " are byte / 255")
  end
end)

T.test("data.mnist reads gzip'ed IDX files and the test split", function()
  local root, plain = dir(), dir()
  local ip = fx.write_idx(root, "t10k", {n = 6, h = 4, w = 4, classes = 3, seed = 4, gz = true})
  if not ip then T.skip("gzip not available") end
  T.ok(ip:match("%.gz$"), "gzip'ed")
  fx.write_idx(root, "train", {n = 5, h = 4, w = 4, classes = 3, seed = 4})
  fx.write_idx(plain, "t10k", {n = 6, h = 4, w = 4, classes = 3, seed = 4})
  local te = data.mnist{root = root, split = "test"}
  local tr = data.mnist{root = root, split = "train"}
  T.eq(te:size(), 6)
  T.eq(tr:size(), 5)
  T.eq(tostring(te), "Dataset(mnist/test: 6 images, 1x4x4, 10 classes)")
  local raw = data.mnist{root = plain, split = "test"}
  same_list(te:labels(), raw:labels(), "gzip and raw labels")
  for i = 1, 6 do T.ok(tau.equal(te:get(i), (raw:get(i))), "gzip and raw decode alike, image " .. i) end
end)

T.test("IDX errors name the file: missing, truncated, bad magic, count mismatch, bad labels", function()
  local root = dir()
  T.raises(function() data.mnist{root = root} end, "tau.data.mnist", "cannot open",
           root .. "/train-images-idx3-ubyte.gz")
  local err = T.raises(function() data.mnist{root = root .. "/nowhere"} end, root .. "/nowhere/train-images-idx3-ubyte")
  T.ok(err:find("^tests/lua/test_data.lua:%d+: tau.data.mnist: "), "raised at the caller's line: " .. err)
  T.raises(function() data.mnist{} end, "tau.data.mnist: option 'root' is required")
  T.raises(function() data.mnist() end, "option 'root' is required")
  T.raises(function() data.mnist("x") end, "tau.data.mnist: options must be a table, got string")

  local ip, lp = fx.write_idx(root, "train", {n = 10, h = 6, w = 6})
  local good = fx.read(ip)
  -- a truncated body, header and magic
  fx.write(ip, good:sub(1, #good - 7))
  T.raises(function() data.mnist{root = root} end, ip, "truncated", "expected 360 pixel bytes, got 353")
  fx.write(ip, good:sub(1, 10))
  T.raises(function() data.mnist{root = root} end, ip, "truncated IDX header")
  fx.write(ip, good:sub(1, 2))
  T.raises(function() data.mnist{root = root} end, ip, "not an IDX image file")
  fx.write(ip, "\1\2" .. good:sub(3))
  T.raises(function() data.mnist{root = root} end, ip, "bad magic")
  fx.write(ip, good:sub(1, 3) .. "\1" .. good:sub(5))
  T.raises(function() data.mnist{root = root} end, ip, "must have 3 dimensions")
  fx.write(ip, good .. "extra")
  T.raises(function() data.mnist{root = root} end, ip, "data after the expected 360 pixel bytes")
  fx.write(ip, good)
  -- images and labels disagree on the count
  local lab = fx.read(lp)
  fx.write(lp, string.pack(">I4I4", 0x801, 9) .. lab:sub(9, 17))
  T.raises(function() data.mnist{root = root} end, ip, "10 images", lp, "9 labels")
  -- an MNIST label must be a digit
  fx.write(lp, lab:sub(1, 8) .. "\12" .. lab:sub(10))
  T.raises(function() data.mnist{root = root} end, lp, "label 12 of image 0 is out of range 0..9")
  fx.write(lp, lab)
  T.eq(data.mnist{root = root}:size(), 10, "the repaired files load")
end)

T.test("a truncated or corrupt gzip IDX file is an error naming the file", function()
  local root = dir()
  local ip = fx.write_idx(root, "train", {n = 30, h = 8, w = 8, gz = true})
  if not ip then T.skip("gzip not available") end
  local good = fx.read(ip)
  fx.write(ip, good:sub(1, #good // 2))
  T.raises(function() data.mnist{root = root} end, "tau.data.mnist", ip, "truncated")
  -- a flipped bit anywhere in the compressed stream is refused with a readable reason (zlib's
  -- message must be copied before the stream is closed: a dangling pointer prints garbage)
  local garbled = {}
  for pos = 11, #good, 7 do
    fx.write(ip, good:sub(1, pos - 1) .. string.char(good:byte(pos) ~ 0x01) .. good:sub(pos + 1))
    local ok, err = pcall(data.mnist, {root = root})
    T.ok(not ok, "a flipped bit at byte " .. pos .. " is detected")
    err = tostring(err)
    T.ok(err:find(ip, 1, true), "names the file: " .. err)
    if err:find("[^\n\t\32-\126]") then garbled[#garbled + 1] = pos end
  end
  T.eq(#garbled, 0, "messages with unreadable bytes (bytes " .. table.concat(garbled, ", ") .. ")")
end)

T.test("data.mnist and fashion_mnist reject a bad split", function()
  local root = dir()
  T.raises(function() data.mnist{root = root, split = "valid"} end, "tau.data.mnist", "split must be", "valid")
  T.raises(function() data.mnist{root = root, split = "val"} end, "split must be", "val")
  T.raises(function() data.fashion_mnist{split = "dev"} end, "tau.data.fashion_mnist", "split must be")
end)

------------------------------------------------------------------------ CIFAR-10

-- Image i of ds holds record r of the file at path.
local function check_cifar_pixels(ds, i, path, r, rec)
  local raw = fx.read(path)
  local bytes = raw:sub((r - 1) * rec + rec - 3072 + 1, r * rec)
  T.ok(tau.equal(ds:get(i), image_tensor(bytes, 3, 32, 32)), "image " .. i .. " is record " .. r .. " of " .. path)
end

T.test("data.cifar10 reads binary batches (cifar-10-batches-bin and flat root)", function()
  local root, train, test = fx.cifar10_root{per_batch = 4, n_test = 7}
  local tr = data.cifar10{root = root}
  local te = data.cifar10{root = root, split = "test"}
  T.eq(tr:size(), 20, "5 batches of 4")
  T.eq(te:size(), 7)
  T.eq(tr.classes, 10)
  T.eq(tr.class_names[1], "airplane")
  T.eq(tr.class_names[10], "truck")
  T.eq(tostring(te), "Dataset(cifar10/test: 7 images, 3x32x32, 10 classes)")
  same_list(tr:labels(), train, "train labels in batch order")
  same_list(te:labels(), test, "test labels")
  local x, y = tr:get(5)
  check_image(x, 3, 32, 32)
  T.eq(y, train[5])
  -- record 5 is the first of data_batch_2
  check_cifar_pixels(tr, 5, root .. "/cifar-10-batches-bin/data_batch_2.bin", 1, 3073)
  T.ok(tau.equal(tr:get(5), (tr:get(5))), "get is repeatable")
  check_cifar_pixels(te, 7, root .. "/cifar-10-batches-bin/test_batch.bin", 7, 3073)
  fx.rmdir(root)

  local flat = fx.cifar10_root{per_batch = 2, n_test = 3, flat = true}
  T.eq(data.cifar10{root = flat}:size(), 10)
  -- names beside the batches replace the defaults
  local names = {}
  for i = 1, 10 do names[i] = "c" .. i end
  fx.write(flat .. "/batches.meta.txt", table.concat(names, "\n") .. "\n\n")
  T.eq(data.cifar10{root = flat, split = "test"}.class_names[3], "c3")
  fx.write(flat .. "/batches.meta.txt", "a\nb\n")
  T.raises(function() data.cifar10{root = flat} end, "batches.meta.txt", "expected 10 class names, found 2")
  fx.rmdir(flat)
end)

T.test("data.cifar10 errors: missing root, truncated batch, bad label, bad split", function()
  local empty = dir()
  T.raises(function() data.cifar10{root = empty} end, "tau.data.cifar10", "no data under", empty)
  T.raises(function() data.cifar10{} end, "tau.data.cifar10: option 'root' is required")
  T.raises(function() data.cifar10{root = empty, split = "val"} end, "split must be")
  local root = fx.cifar10_root{per_batch = 2, n_test = 2}
  local b3 = root .. "/cifar-10-batches-bin/data_batch_3.bin"
  local good = fx.read(b3)
  fx.write(b3, good:sub(1, #good - 100))
  T.raises(function() data.cifar10{root = root} end, b3, "not a multiple of the 3073-byte CIFAR-10 record")
  fx.write(b3, "\10" .. good:sub(2))
  T.raises(function() data.cifar10{root = root} end, b3, "record 0 has label 10, expected 0..9")
  fx.write(b3, good)
  os.remove(root .. "/cifar-10-batches-bin/data_batch_5.bin")
  T.raises(function() data.cifar10{root = root} end, "data_batch_5.bin")
  T.eq(data.cifar10{root = root, split = "test"}:size(), 2, "the test batch alone still loads")
  fx.rmdir(root)
end)

T.test("data.cifar10 reads class folders (root/<split>/<class> and root/cifar10/<split>/<class>)", function()
  local root = dir()
  fx.mkdir(root .. "/train")
  local _, labels = fx.class_folders(root .. "/train", {classes = {"cat", "airplane", "dog"}, per = 2, h = 32, w = 32})
  local ds = data.cifar10{root = root}
  T.eq(ds:size(), 6)
  T.eq(ds.classes, 3)
  -- classes are sorted by name, whatever order they were written in
  same_list(ds.class_names, {"airplane", "cat", "dog"}, "class names")
  same_list(ds:labels(), {1, 1, 2, 2, 3, 3}, "labels")
  T.eq(#labels, 6)
  check_image(ds:get(1), 3, 32, 32)
  T.raises(function() data.cifar10{root = root, split = "test"} end, "no data under")

  local root2 = dir()
  fx.mkdir(root2 .. "/cifar10/test")
  fx.class_folders(root2 .. "/cifar10/test", {classes = {"a", "b"}, per = 1, h = 8, w = 8})
  local te = data.cifar10{root = root2, split = "test"}
  T.eq(te:size(), 2)
  T.eq(te.height, 8)
end)

------------------------------------------------------------------------ CIFAR-100

T.test("data.cifar100 reads train.bin/test.bin with fine or coarse labels", function()
  local root = dir()
  local bin = root .. "/cifar-100-binary"
  fx.mkdir(bin)
  local pairs_ = {}
  for i = 1, 8 do pairs_[i] = {(i * 13) % 100 + 1, (i * 7) % 20 + 1} end
  fx.write(bin .. "/train.bin", fx.cifar_records(pairs_, "cifar100", 1))
  fx.write(bin .. "/test.bin", fx.cifar_records({{100, 20}, {1, 1}}, "cifar100", 2))
  local fine = data.cifar100{root = root}
  local coarse = data.cifar100{root = root, labels = "coarse"}
  T.eq(fine:size(), 8)
  T.eq(fine.classes, 100)
  T.eq(coarse.classes, 20)
  local f, c = {}, {}
  for i, p in ipairs(pairs_) do f[i], c[i] = p[1], p[2] end
  same_list(fine:labels(), f, "fine labels")
  same_list(coarse:labels(), c, "coarse labels")
  T.ok(tau.equal(fine:get(3), (coarse:get(3))), "same pixels either way")
  check_cifar_pixels(fine, 3, bin .. "/train.bin", 3, 3074)
  local te = data.cifar100{root = root, split = "test", labels = "fine"}
  same_list(te:labels(), {100, 1}, "test labels")
  -- names beside the file
  local names = {}
  for i = 1, 20 do names[i] = "super" .. i end
  fx.write(bin .. "/coarse_label_names.txt", table.concat(names, "\n"))
  T.eq(data.cifar100{root = root, labels = "coarse"}.class_names[20], "super20")
  T.raises(function() data.cifar100{root = root, labels = "medium"} end,
           "tau.data.cifar100: labels must be 'fine' or 'coarse', got medium")
  T.raises(function() data.cifar100{labels = "fine"} end, "option 'root' is required")
  fx.write(bin .. "/train.bin", fx.cifar_records({{5, 21}}, "cifar100", 1))
  T.raises(function() data.cifar100{root = root, labels = "coarse"} end, "train.bin", "coarse label 20, expected 0..19")
  fx.write(bin .. "/train.bin", fx.cifar_records({{5, 2}}, "cifar100", 1) .. "x")
  T.raises(function() data.cifar100{root = root} end, "train.bin", "3074-byte CIFAR-100 record")
end)

------------------------------------------------------------------------ Tiny-ImageNet

T.test("data.tiny_imagenet reads the standard train and val layout", function()
  local root, val, wnids = fx.tiny_root{per = 2, nval = 5}
  local tr = data.tiny_imagenet{root = root}
  local va = data.tiny_imagenet{root = root, split = "val"}
  T.eq(tr:size(), 6)
  T.eq(va:size(), 5)
  T.eq(tr.classes, 3)
  same_list(tr.class_names, wnids, "class names are the wnids in wnids.txt order")
  same_list(tr:labels(), {1, 1, 2, 2, 3, 3}, "train labels")
  same_list(va:labels(), val, "val labels from val_annotations.txt")
  check_image(va:get(2), 3, 64, 64)
  T.eq(tostring(va), "Dataset(tiny_imagenet/val: 5 images, 3x64x64, 3 classes)")
  T.raises(function() data.tiny_imagenet{root = root, split = "test"} end, "tau.data.tiny_imagenet",
           "split must be \"train\" or \"val\"")
  T.raises(function() data.tiny_imagenet{split = "val"} end, "option 'root' is required")
  -- broken trees
  local ann = fx.read(root .. "/val/val_annotations.txt")
  fx.write(root .. "/val/val_annotations.txt", ann .. "val_9.JPEG\tn99999999\t0\t0\t1\t1\n")
  T.raises(function() data.tiny_imagenet{root = root, split = "val"} end, "val_annotations.txt", "line 6",
           "unknown wnid 'n99999999'")
  fx.write(root .. "/val/val_annotations.txt", ann .. "val_9.JPEG\t" .. wnids[1] .. "\t0\t0\t1\t1\n")
  T.raises(function() data.tiny_imagenet{root = root, split = "val"} end, "val_9.JPEG")
  fx.write(root .. "/val/val_annotations.txt", ann)
  fx.write(root .. "/wnids.txt", table.concat(wnids, "\n") .. "\nn00000001\n")
  T.raises(function() data.tiny_imagenet{root = root} end, "missing folder", "n00000001")
  fx.write(root .. "/wnids.txt", "")
  T.raises(function() data.tiny_imagenet{root = root} end, "wnids.txt", "lists no classes")
  os.remove(root .. "/wnids.txt")
  T.raises(function() data.tiny_imagenet{root = root} end, "cannot open", root .. "/wnids.txt")
  fx.rmdir(root)
end)

------------------------------------------------------------------------ image folders

T.test("data.image_folder: classes by sorted folder name, channels option, errors", function()
  local root = dir()
  fx.class_folders(root, {classes = {"zebra", "ant", "moth"}, per = 3, h = 10, w = 12})
  fx.write(root .. "/README.txt", "not an image")
  fx.write(root .. "/ant/notes.txt", "skipped")
  local ds = data.image_folder{root = root}
  T.eq(ds:size(), 9)
  T.eq(ds.channels, 3)
  T.eq(ds.height, 10)
  T.eq(ds.width, 12)
  same_list(ds.class_names, {"ant", "moth", "zebra"}, "sorted class names")
  same_list(ds:labels(), {1, 1, 1, 2, 2, 2, 3, 3, 3}, "labels")
  -- zebra was written first with the pattern of class 1; it is label 3 here
  local zebra1 = tau.image.load(root .. "/zebra/01.png")
  T.ok(tau.equal(ds:get(7), zebra1), "pixels match the PNG")
  local grey = data.image_folder{root = root, channels = 1}
  T.eq(grey.channels, 1)
  check_image(grey:get(1), 1, 10, 12)
  T.raises(function() data.image_folder{root = root, channels = 2} end, "channels must be 1 or 3, got 2")
  T.raises(function() data.image_folder{} end, "tau.data.image_folder: option 'root' is required")
  T.raises(function() data.image_folder{root = root .. "/none"} end, "cannot open folder", root .. "/none")
  -- an image of another size, an undecodable file, an empty class
  local mixed = dir()
  fx.class_folders(mixed, {classes = {"a", "b"}, per = 1, h = 8, w = 8})
  fx.save_image(mixed .. "/b/02.png", string.rep("\100", 3 * 9 * 8), 3, 9, 8)
  T.raises(function() data.image_folder{root = mixed} end, mixed .. "/b/02.png", "same size")
  fx.write(mixed .. "/b/02.png", "\137PNG garbage")
  T.raises(function() data.image_folder{root = mixed} end, "cannot decode image", mixed .. "/b/02.png")
  os.remove(mixed .. "/b/02.png")
  fx.mkdir(mixed .. "/c")
  T.raises(function() data.image_folder{root = mixed} end, mixed .. "/c", "contains no images")
  local flat = dir()
  T.raises(function() data.image_folder{root = flat} end, "has no class sub-folders")
end)

------------------------------------------------------------------------ Dataset methods

local root40 = dir()
local _, _, y40 = fx.write_idx(root40, "train", {n = 40, h = 6, w = 6, classes = 5, seed = 3})
local ds40 = data.mnist{root = root40}

T.test("Dataset:get checks its index", function()
  T.raises(function() ds40:get(0) end, "Dataset:get", "index 0 out of range 1..40")
  T.raises(function() ds40:get(41) end, "out of range 1..40")
  T.raises(function() ds40:get(1.5) end, "Dataset:get: index must be an integer")
  T.raises(function() ds40:get("1") end, "index must be an integer")
  local _, y = ds40:get(40)
  T.eq(y, y40[40])
end)

T.test("Dataset:subset by list, range and count; nested subsets", function()
  local s = ds40:subset{5, 1, 40}
  T.eq(s:size(), 3)
  T.eq(#s, 3)
  same_list(s:labels(), {y40[5], y40[1], y40[40]}, "list subset labels")
  T.ok(tau.equal(s:get(2), (ds40:get(1))), "list subset maps positions")
  local r = ds40:subset{first = 11, last = 20}
  T.eq(r:size(), 10)
  same_list(r:labels(), {table.unpack(y40, 11, 20)}, "range subset labels")
  T.eq(ds40:subset{first = 31}:size(), 10, "last defaults to the end")
  T.eq(ds40:subset{last = 4}:size(), 4, "first defaults to 1")
  local c = ds40:subset(7)
  T.eq(c:size(), 7)
  T.eq(ds40:subset(100):size(), 40, "a count beyond the size takes all")
  local rr = r:subset{first = 2, last = 3}
  same_list(rr:labels(), {y40[12], y40[13]}, "subset of a subset")
  T.ok(tau.equal(rr:get(1), (ds40:get(12))), "nested positions")
  T.eq(tostring(c), "Dataset(mnist/train: 7 images, 1x6x6, 10 classes)")
  T.eq(ds40:size(), 40, "the parent is unchanged")
  T.raises(function() c:get(8) end, "Dataset:get: index 8 out of range 1..7")
  T.raises(function() ds40:subset{first = 30, last = 41} end, "Dataset:subset: position 41 out of range 1..40")
  T.raises(function() ds40:subset{0} end, "Dataset:subset: position 0 out of range 1..40")
  T.raises(function() r:subset{11} end, "Dataset:subset: position 11 out of range 1..10")
  T.raises(function() r:subset{1.5} end, "Dataset:subset: position 1.5 out of range 1..10")
end)

------------------------------------------------------------------------ loaders

T.test("data.loader: shapes, dtypes, partial last batch, drop_last, len", function()
  local l = data.loader(ds40, {batch = 16})
  T.eq(l:len(), 3)
  T.eq(#l, 3)
  local xs, ys = drain(l)
  T.eq(#xs, 3)
  same_list(xs[1]:size(), {16, 1, 6, 6}, "first batch")
  same_list(xs[3]:size(), {8, 1, 6, 6}, "last partial batch")
  T.eq(xs[1]:dtype(), "float32")
  T.eq(ys[1]:dtype(), "int32")
  same_list(ys[1]:size(), {16})
  local all = tau.cat(ys, 1)
  same_list(all, y40, "labels in order without shuffle")
  T.ok(tau.equal(xs[1][2], (ds40:get(2))), "images in order")
  T.ok(all:min():item() >= 1 and all:max():item() <= 10, "labels 1..C")
  local d = data.loader(ds40, {batch = 16, drop_last = true})
  T.eq(d:len(), 2)
  T.eq(#drain(d), 2)
  T.eq(#drain(data.loader(ds40, {batch = 40})), 1)
  T.eq(#drain(data.loader(ds40, {batch = 41, drop_last = true})), 0)
  T.eq(#drain(data.loader(ds40)), 1, "default batch 128")
  local sub = ds40:subset{3, 4}
  local _, sy = drain(data.loader(sub, {batch = 5}))
  same_list(sy[1], {y40[3], y40[4]}, "a loader over a subset")
end)

T.test("data.loader shuffle: a permutation fixed by (seed, epoch), different across epochs", function()
  local function order(o)
    local _, ys = drain(data.loader(ds40:subset(40), o))
    local xs = drain(data.loader(ds40, o))
    return tau.cat(ys, 1), tau.cat(xs, 1)
  end
  local y1, x1 = order{batch = 8, shuffle = true, seed = 3, epoch = 1}
  local y1b, x1b = order{batch = 8, shuffle = true, seed = 3, epoch = 1}
  T.ok(tau.equal(x1, x1b) and tau.equal(y1, y1b), "same seed and epoch, same batches")
  local _, x2 = order{batch = 8, shuffle = true, seed = 3, epoch = 2}
  local _, x3 = order{batch = 8, shuffle = true, seed = 4, epoch = 1}
  T.ok(not tau.equal(x1, x2), "another epoch, another order")
  T.ok(not tau.equal(x1, x3), "another seed, another order")
  local _, x0 = order{batch = 8}
  T.ok(not tau.equal(x1, x0), "shuffled differs from the file order")
  -- a permutation: each image exactly once (same label counts, same pixel sum)
  same_list(tau.one_hot(y1, 10):sum(1), tau.one_hot(tau.tensor(y40, "int32"), 10):sum(1), "every label once")
  T.near(x1:sum():item(), x0:sum():item(), 1e-5, "every image once")
  -- the batch size does not change the order
  local _, x1c = order{batch = 13, shuffle = true, seed = 3, epoch = 1}
  T.ok(tau.equal(x1, x1c), "order independent of the batch size")
end)

T.test("data.loader start: resuming a pass gives the batches after start", function()
  local o = {batch = 6, shuffle = true, seed = 9, epoch = 2, augment = {crop = 2, flip = true}}
  local full_x, full_y = drain(data.loader(ds40, o))
  T.eq(#full_x, 7)
  local r = {}
  for k, v in pairs(o) do r[k] = v end
  r.start = 4
  local l = data.loader(ds40, r)
  T.eq(l:len(), 7, "len is the pass's length")
  local xs, ys = drain(l)
  T.eq(#xs, 3)
  for i = 1, 3 do
    T.ok(tau.equal(xs[i], full_x[i + 4]), "images of batch " .. (i + 4))
    T.ok(tau.equal(ys[i], full_y[i + 4]), "labels of batch " .. (i + 4))
  end
  r.start = 7
  T.eq(#drain(data.loader(ds40, r)), 0, "nothing left after the last batch")
  r.start = -1
  T.raises(function() drain(data.loader(ds40, r)) end, "tau.data.loader: start must be a non-negative integer, got -1")
end)

T.test("data.loader augment: crop and flip change images, keep shapes, are reproducible", function()
  local plain = drain(data.loader(ds40, {batch = 40}))[1]
  local o = {batch = 40, seed = 5, augment = {crop = 2, flip = true}}
  local a = drain(data.loader(ds40, o))[1]
  local b = drain(data.loader(ds40, o))[1]
  same_list(a:size(), {40, 1, 6, 6}, "shape kept")
  T.ok(tau.equal(a, b), "reproducible")
  T.ok(not tau.equal(a, plain), "augmented")
  T.ok(a:min():item() >= 0 and a:max():item() <= 1, "still pixels")
  o.epoch = 1
  T.ok(not tau.equal(a, drain(data.loader(ds40, o))[1]), "other draws in another epoch")
  -- flip alone: every image is itself or its mirror image
  local f = drain(data.loader(ds40, {batch = 40, seed = 2, augment = {flip = true}}))[1]
  local flipped = 0
  for i = 1, 40 do
    local x, p = f[i][1]:totable(), plain[i][1]:totable()
    local same, mirror = true, true
    for r = 1, 6 do
      for c = 1, 6 do
        if x[r][c] ~= p[r][c] then same = false end
        if x[r][c] ~= p[r][7 - c] then mirror = false end
      end
    end
    T.ok(same or mirror, "image " .. i .. " is itself or mirrored")
    if not same then flipped = flipped + 1 end
  end
  T.ok(flipped > 5 and flipped < 35, "about half are flipped: " .. flipped)
  -- crop alone: a shifted copy with zero padding, never a flip
  local cr = drain(data.loader(ds40, {batch = 40, seed = 2, augment = {crop = 1}}))[1]
  T.ok(not tau.equal(cr, plain), "crop moves images")
  T.raises(function() drain(data.loader(ds40, {augment = {crop = -1}})) end, "pad must be in 0..64")
end)

T.test("Dataset:batch seeds are full 64-bit integers", function()
  local pos = {}
  for i = 1, 40 do pos[i] = i end
  local base = (1 << 62) + 1
  local a = ds40:batch(pos, {pad = 2, flip = true, seed = base})
  local b = ds40:batch(pos, {pad = 2, flip = true, seed = base + 1})
  T.ok(not tau.equal(a, b), "seeds that differ in the lowest bit draw differently")
  T.ok(tau.equal(a, (ds40:batch(pos, {pad = 2, flip = true, seed = base}))), "and each is reproducible")
  T.raises(function() ds40:batch(pos, {seed = 0.5}) end, "Dataset:batch: seed must be an integer")
  T.raises(function() data.cifar_files({1}) end, "tau.data.cifar_files: file 1 is not a string")
end)

T.test("data.loader normalize: (x - mean) / std per channel", function()
  local plain = drain(data.loader(ds40, {batch = 40}))[1]
  local n = drain(data.loader(ds40, {batch = 40, normalize = {mean = {0.5}, std = {0.25}}}))[1]
  T.close(n, (plain - 0.5) / 0.25, 1e-5)
  local n2 = drain(data.loader(ds40, {batch = 40, normalize = {mean = 0.5, std = 0.25}}))[1]
  T.ok(tau.equal(n, n2), "a number applies to every channel")
  T.raises(function() drain(data.loader(ds40, {normalize = {mean = {0.5}, std = {0}}})) end, "std must be positive")
  T.raises(function() drain(data.loader(ds40, {normalize = {mean = {0.5, 0.5}, std = {1, 1}}})) end,
           "mean must be a number or a list of 1 numbers")
end)

T.test("data.loader argument errors", function()
  T.raises(function() data.loader({}, {}) end, "tau.data.loader: argument 1 must be a data set")
  T.raises(function() data.loader(ds40, 5) end, "tau.data.loader: options must be a table, got number")
  T.raises(function() data.loader(ds40, {batch = 0}) end, "tau.data.loader: batch must be a positive integer")
  T.raises(function() data.loader(ds40, {batch = 2.5}) end, "batch must be a positive integer")
  T.raises(function() data.loader(ds40, {seed = 1.5}) end, "tau.data.loader: seed must be an integer, got 1.5")
  T.raises(function() data.loader(ds40, {epoch = "x"}) end, "tau.data.loader: epoch must be an integer, got x")
  T.eq(data.loader(ds40, {seed = 2.0, epoch = 1.0}):len(), 1, "integral floats are integers")
  -- misspelt options are refused rather than ignored
  T.raises(function() data.loader(ds40, {suffle = true}) end, "tau.data.loader: unknown option 'suffle'", "shuffle")
  T.raises(function() data.loader(ds40, {augment = {crop = 2, flips = true}}) end,
           "tau.data.loader: unknown augment option 'flips' (did you mean 'flip'?)")
  T.raises(function() data.loader(ds40, {normalize = {mean = 0.5, sd = 1}}) end, "unknown normalize option 'sd'")
  T.raises(function() data.loader(ds40, {augment = true}) end, "tau.data.loader: augment must be a table, got boolean")
  T.raises(function() data.mnist{root = root40, spilt = "test"} end, "tau.data.mnist: unknown option 'spilt'")
  T.raises(function() data.cifar10{dir = "x"} end, "tau.data.cifar10: unknown option 'dir'")
  T.raises(function() data.cifar100{root = "x", label = "fine"} end, "tau.data.cifar100: unknown option 'label'")
  T.raises(function() data.tiny_imagenet{root = "x", splits = "val"} end, "tau.data.tiny_imagenet: unknown option")
  T.raises(function() data.image_folder{root = "x", channel = 1} end, "tau.data.image_folder: unknown option 'channel'")
  T.raises(function() data.fashion_mnist{"test"} end, "tau.data.fashion_mnist: unknown option '1'")
  T.raises(function() ds40:subset("all") end, "Dataset:subset: expected a list of positions")
  -- an empty subset gives an empty pass, shuffled or not
  T.eq(#drain(data.loader(ds40:subset(0), {shuffle = true})), 0)
end)

------------------------------------------------------------------------ real data sets

local shared = T.shared_data()

-- Unpacks an archive of ../shared/data into a fresh folder, runs body(folder), removes it.
local function with_archive(name, body)
  if not shared then T.skip("the shared data folder is absent (../shared/data)") end
  local archive = shared .. "/" .. name
  if not fx.exists(archive) then T.skip(archive .. " is absent") end
  local into = fx.memdir()
  local ok, err = true, nil
  if fx.sh("tar -xzf " .. fx.quote(archive) .. " -C " .. fx.quote(into)) then
    ok, err = pcall(body, into)
  else
    err = {skip = true, reason = "cannot unpack " .. archive}
    ok = false
  end
  fx.rmdir(into)
  if not ok then error(err, 0) end
end

T.test("real CIFAR-10 (JPEG class folders): 50000 + 10000 images, 10 balanced classes", function()
  with_archive("cifar10-jpg.tar.gz", function(root)
    local te = data.cifar10{root = root, split = "test"}
    local tr = data.cifar10{root = root .. "/cifar10", split = "train"}
    T.eq(te:size(), 10000)
    T.eq(tr:size(), 50000)
    same_list(te.class_names, {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                               "truck"}, "the CIFAR-10 names")
    check_image(tr:get(12345), 3, 32, 32)
    local counts = tau.one_hot(te:labels(), 10):sum(1):totable()
    for c = 1, 10 do T.eq(counts[c], 1000, "test class " .. c) end
    local x, y = drain(data.loader(te, {batch = 256, shuffle = true, seed = 1}))
    same_list(x[1]:size(), {256, 3, 32, 32})
    T.eq(#y, 40)
  end)
end)

T.test("real Tiny-ImageNet subset: 200 classes, 10000 val and 20000 train images", function()
  with_archive("tiny-imagenet-200-subset.tar.gz", function(into)
    local root = into .. "/tiny-imagenet-200"
    local va = data.tiny_imagenet{root = root, split = "val"}
    local tr = data.tiny_imagenet{root = root}
    T.eq(va:size(), 10000)
    T.eq(tr:size(), 20000)
    T.eq(va.classes, 200)
    check_image(va:get(1), 3, 64, 64)
    local vl, tl = va:labels(), tr:labels()
    T.eq(vl:min():item(), 1)
    T.eq(vl:max():item(), 200)
    local counts = tau.one_hot(vl, 200):sum(1)
    T.eq(counts:min():item(), 50)
    T.eq(counts:max():item(), 50)
    T.eq(tl[1], 1)
    T.eq(tl[20000], 200)
    -- a ResNet-50-shaped model (Bottleneck, reduced width) and a ViT take real 3x64x64 batches
    -- through forward, backward and an optimiser step, and their loss goes down on a repeated batch
    local x, y = tr:batch({1, 150, 2000, 7000, 12000, 19999, 20000, 42}, {pad = 8, flip = true, seed = 3})
    local nets = {
      resnet50 = tau.models.resnet{depth = 50, width = 8, classes = 200, channels = 3},
      vit = tau.models.vit{patch = 8, dim = 32, depth = 2, heads = 2, classes = 200, image = 64, channels = 3},
    }
    for name, net in pairs(nets) do
      local opt = tau.optim.SGD(net:parameters(), {lr = 0.05, momentum = 0.9})
      local first, last
      for step = 1, 4 do
        opt:zero_grad()
        local loss = tau.F.cross_entropy(net(x), y, {tau = 2})
        loss:backward()
        opt:step()
        if step == 1 then first = loss:item() end
        last = loss:item()
      end
      T.ok(last == last and last < first, name .. ": loss " .. first .. " -> " .. last)
    end
  end)
end)

T.test("cleanup", function() fx.rmdir(tmp) end)
