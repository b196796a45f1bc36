-- Test fixtures written on the fly into temporary folders: IDX (raw and gzip), CIFAR binary
-- batches, class folders of PNGs, a Tiny-ImageNet-shaped tree, and learnable in-memory data.
-- Images of class k carry a bright square at a class-specific place over dim noise, so a tiny
-- model separates the classes within a few epochs.
local fx = {}

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
fx.quote = sh_quote

function fx.sh(cmd)
  local ok = os.execute(cmd)
  return ok == true
end

-- A fresh empty folder (os.tmpname gives a unique file name; the folder takes its place).
-- With fx.parent set, folders are made inside it, so removing it removes them all.
local made = 0
function fx.tmpdir()
  local name
  if fx.parent then
    made = made + 1
    name = fx.parent .. "/f" .. made
  else
    name = os.tmpname()
    os.remove(name)
  end
  assert(fx.sh("mkdir -p " .. sh_quote(name)), "cannot create " .. name)
  return name
end

-- A fresh folder in memory when the system has one (/dev/shm): unpacking tens of thousands
-- of small files there takes a second, on a disk it can take half a minute.
function fx.memdir()
  local p = io.popen("mktemp -d /dev/shm/tau-test.XXXXXX 2>/dev/null")
  local name = p and p:read("l")
  if p then p:close() end
  if name and name ~= "" then return name end
  return fx.tmpdir()
end

-- The temporary folder of a test file: fresh, and the parent of every later fx.tmpdir().
function fx.root()
  fx.parent = nil
  local d = fx.tmpdir()
  fx.parent = d
  return d
end

function fx.rmdir(path)
  if path and #path > 5 then fx.sh("rm -rf " .. sh_quote(path)) end
end

function fx.mkdir(path) assert(fx.sh("mkdir -p " .. sh_quote(path)), "cannot create " .. path) end

function fx.write(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

fx.read = require("tau.util").read_file

-- The non-empty lines of a file (none when it is missing).
function fx.lines(path)
  local out = {}
  for l in (fx.read(path) or ""):gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

function fx.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

function fx.ls(dir)
  local out = {}
  local p = io.popen("ls -A " .. sh_quote(dir) .. " 2>/dev/null")
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

function fx.gzip(path)
  if not fx.sh("command -v gzip >/dev/null 2>&1") then return nil end
  if not fx.sh("gzip -n -f " .. sh_quote(path)) then return nil end
  return path .. ".gz"
end

-- Deterministic generator independent of tau's, so fixtures do not disturb tau.manual_seed.
local function lcg(seed)
  local s = (seed * 2654435761 + 12345) & 0x7fffffff
  return function(n)
    s = (s * 1103515245 + 12345) & 0x7fffffff
    return (s >> 8) % n
  end
end
fx.lcg = lcg

-- Top-left corner of class k's square (k 1-based) on an h x w image with a square of side q.
local function corner(k, classes, h, w, q)
  local cols = math.ceil(math.sqrt(classes))
  local rows = math.ceil(classes / cols)
  local r, c = (k - 1) // cols, (k - 1) % cols
  local top = math.floor(r * (h - q) / math.max(rows - 1, 1))
  local left = math.floor(c * (w - q) / math.max(cols - 1, 1))
  return top, left
end

-- Bytes of one planar (C, H, W) image of class k.
function fx.image_bytes(k, classes, c, h, w, rand)
  local q = math.max(2, math.min(h, w) // 3)
  local top, left = corner(k, classes, h, w, q)
  local px = {}
  local n = 0
  for ch = 1, c do
    for i = 0, h - 1 do
      for j = 0, w - 1 do
        n = n + 1
        if i >= top and i < top + q and j >= left and j < left + q then
          px[n] = 190 + rand(66) - (ch - 1) * 20
        else
          px[n] = rand(60)
        end
      end
    end
  end
  local parts = {}
  for s = 1, n, 4096 do parts[#parts + 1] = string.char(table.unpack(px, s, math.min(n, s + 4095))) end
  return table.concat(parts)
end

-- n labels cycling through 1..classes (every class present, shuffled by the generator).
function fx.labels(n, classes, rand)
  local y = {}
  for i = 1, n do y[i] = (i - 1) % classes + 1 end
  for i = n, 2, -1 do
    local j = rand(i) + 1
    y[i], y[j] = y[j], y[i]
  end
  return y
end

-- IDX pair: prefix-images-idx3-ubyte and prefix-labels-idx1-ubyte in dir (gzip'ed when gz).
-- Returns the two paths and the 1-based labels.
function fx.write_idx(dir, prefix, o)
  o = o or {}
  local n, h, w, classes = o.n or 40, o.h or 12, o.w or 12, o.classes or 4
  local rand = lcg(o.seed or 1)
  local y = o.labels or fx.labels(n, classes, rand)
  local imgs = {string.pack(">I4I4I4I4", 0x00000803, n, h, w)}
  local labs = {string.pack(">I4I4", 0x00000801, n)}
  for i = 1, n do
    imgs[#imgs + 1] = fx.image_bytes(y[i], classes, 1, h, w, rand)
    labs[#labs + 1] = string.char(y[i] - 1)
  end
  local ip = dir .. "/" .. prefix .. "-images-idx3-ubyte"
  local lp = dir .. "/" .. prefix .. "-labels-idx1-ubyte"
  fx.write(ip, table.concat(imgs))
  fx.write(lp, table.concat(labs))
  if o.gz then
    ip, lp = fx.gzip(ip), fx.gzip(lp)
    if not ip or not lp then return nil end
  end
  return ip, lp, y
end

-- An MNIST-style root with train (n) and t10k (n_test) pairs.
function fx.mnist_root(o)
  o = o or {}
  local root = fx.tmpdir()
  local ok = fx.write_idx(root, "train", {n = o.n or 40, h = o.h, w = o.w, classes = o.classes, seed = 1, gz = o.gz})
  local _, _, ytest = fx.write_idx(root, "t10k", {n = o.n_test or 12, h = o.h, w = o.w, classes = o.classes,
                                                  seed = 2, gz = o.gz})
  if not ok then fx.rmdir(root) return nil end
  return root, ytest
end

-- CIFAR binary file: records of (coarse, fine) or label byte + 3072 planar pixels.
-- labels: list of 1-based labels (for CIFAR-100, {fine, coarse} pairs).
function fx.cifar_records(labels, variant, seed)
  local rand = lcg(seed or 3)
  local out = {}
  for i, l in ipairs(labels) do
    local k = variant == "cifar100" and l[1] or l
    local head = variant == "cifar100" and string.char(l[2] - 1, l[1] - 1) or string.char(l - 1)
    out[i] = head .. fx.image_bytes((k - 1) % 10 + 1, 10, 3, 32, 32, rand)
  end
  return table.concat(out)
end

-- root/cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin with per_batch records each.
-- Returns root and the labels in file order: train (all batches concatenated) and test.
function fx.cifar10_root(o)
  o = o or {}
  local per = o.per_batch or 6
  local root = fx.tmpdir()
  local dir = o.flat and root or root .. "/cifar-10-batches-bin"
  fx.mkdir(dir)
  local rand = lcg(7)
  local train = {}
  for b = 1, 5 do
    local ls = fx.labels(per, 10, rand)
    for _, l in ipairs(ls) do train[#train + 1] = l end
    fx.write(dir .. "/data_batch_" .. b .. ".bin", fx.cifar_records(ls, "cifar10", 10 + b))
  end
  local test = fx.labels(o.n_test or 10, 10, rand)
  fx.write(dir .. "/test_batch.bin", fx.cifar_records(test, "cifar10", 20))
  return root, train, test
end

-- Writes planar bytes as an image file through tau.image.save.
function fx.save_image(path, bytes, c, h, w)
  local v = {}
  for i = 1, #bytes do v[i] = bytes:byte(i) / 255 end
  tau.image.save(path, tau.tensor(v):view(c, h, w))
end

-- root/<class>/<NN>.png: per images of each class; returns root and the labels in the order
-- the loader reads them (classes sorted by name, files by name).
function fx.class_folders(root, o)
  o = o or {}
  local classes = o.classes or {"ant", "bee", "cat"}
  local per, c, h, w = o.per or 3, o.channels or 3, o.h or 16, o.w or 16
  local ext = o.ext or "png"
  local rand = lcg(o.seed or 5)
  local labels = {}
  for k, name in ipairs(classes) do
    fx.mkdir(root .. "/" .. name)
    for i = 1, per do
      fx.save_image(string.format("%s/%s/%02d.%s", root, name, i, ext),
                    fx.image_bytes((k - 1) % 10 + 1, math.max(#classes, 2), c, h, w, rand), c, h, w)
      labels[#labels + 1] = k
    end
  end
  return root, labels
end

-- A Tiny-ImageNet-200-shaped tree with a few classes of 64x64 JPEGs.
function fx.tiny_root(o)
  o = o or {}
  local wnids = o.wnids or {"n01443537", "n01629819", "n01641577"}
  local per, nval = o.per or 2, o.nval or 5
  local root = fx.tmpdir()
  local rand = lcg(9)
  fx.write(root .. "/wnids.txt", table.concat(wnids, "\n") .. "\n")
  local words = {}
  for _, id in ipairs(wnids) do words[#words + 1] = id .. "\tthing " .. id end
  fx.write(root .. "/words.txt", table.concat(words, "\n") .. "\n")
  for k, id in ipairs(wnids) do
    local dir = root .. "/train/" .. id .. "/images"
    fx.mkdir(dir)
    fx.write(root .. "/train/" .. id .. "/" .. id .. "_boxes.txt", "")
    for i = 0, per - 1 do
      fx.save_image(string.format("%s/%s_%d.JPEG", dir, id, i), fx.image_bytes(k, #wnids, 3, 64, 64, rand), 3, 64, 64)
    end
  end
  fx.mkdir(root .. "/val/images")
  local ann, val = {}, {}
  for i = 0, nval - 1 do
    local k = (i * 2) % #wnids + 1
    fx.save_image(string.format("%s/val/images/val_%d.JPEG", root, i), fx.image_bytes(k, #wnids, 3, 64, 64, rand), 3, 64, 64)
    ann[#ann + 1] = string.format("val_%d.JPEG\t%s\t0\t0\t63\t63", i, wnids[k])
    val[#val + 1] = k
  end
  fx.write(root .. "/val/val_annotations.txt", table.concat(ann, "\n") .. "\n")
  return root, val, wnids
end

-- A small learnable data set as an IDX-backed tau.data set (4 classes of 1 x 12 x 12).
function fx.learnable(o)
  o = o or {}
  local root = fx.mnist_root{n = o.n or 256, n_test = o.n_test or 64, h = o.h or 12, w = o.w or 12,
                             classes = o.classes or 4}
  local train = tau.data.mnist{root = root, split = "train"}
  local test = tau.data.mnist{root = root, split = "test"}
  return train, test, root
end

-- A small MLP over 1 x 12 x 12 images.
function fx.mlp(o)
  o = o or {}
  return tau.models.mlp{inputs = (o.channels or 1) * (o.h or 12) * (o.w or 12), hidden = {o.hidden or 32},
                        classes = o.classes or 4}
end

-- Every parameter and buffer of two modules bit-identical.
function fx.same_state(a, b)
  local sa, sb = a:state_dict(), b:state_dict()
  for k, v in pairs(sa) do
    if not sb[k] or not tau.equal(v, sb[k]) then return false, k end
  end
  for k in pairs(sb) do if not sa[k] then return false, k end end
  return true
end

-- Path of the bin/tau being run (so subprocess tests use the same build).
function fx.tau_bin()
  local exe = arg and arg[-1]
  if exe and exe ~= "" then return exe end
  return "bin/tau"
end

-- Minimal JSON reader for the files the library writes (objects, arrays, strings, numbers,
-- true/false/null); enough to check their structure.
function fx.json_decode(s)
  local i = 1
  local function ws() i = s:find("[^ \t\r\n]", i) or #s + 1 end
  local value
  local function str()
    local out = {}
    i = i + 1
    while true do
      local c = s:sub(i, i)
      if c == "" then error("json: unterminated string") end
      if c == '"' then i = i + 1 break end
      if c == "\\" then
        local e = s:sub(i + 1, i + 1)
        local map = {n = "\n", t = "\t", r = "\r", b = "\b", f = "\f", ['"'] = '"', ["\\"] = "\\", ["/"] = "/"}
        if e == "u" then
          out[#out + 1] = utf8.char(tonumber(s:sub(i + 2, i + 5), 16))
          i = i + 6
        else
          out[#out + 1] = map[e] or error("json: bad escape")
          i = i + 2
        end
      else
        out[#out + 1] = c
        i = i + 1
      end
    end
    return table.concat(out)
  end
  function value()
    ws()
    local c = s:sub(i, i)
    if c == "{" then
      local t = {}
      i = i + 1
      ws()
      if s:sub(i, i) == "}" then i = i + 1 return t end
      while true do
        ws()
        local k = str()
        ws()
        assert(s:sub(i, i) == ":", "json: expected ':' at " .. i)
        i = i + 1
        t[k] = value()
        ws()
        local d = s:sub(i, i)
        i = i + 1
        if d == "}" then return t end
        assert(d == ",", "json: expected ',' at " .. i)
      end
    elseif c == "[" then
      local t = {}
      i = i + 1
      ws()
      if s:sub(i, i) == "]" then i = i + 1 return t end
      while true do
        t[#t + 1] = value()
        ws()
        local d = s:sub(i, i)
        i = i + 1
        if d == "]" then return t end
        assert(d == ",", "json: expected ',' at " .. i)
      end
    elseif c == '"' then return str()
    elseif s:sub(i, i + 3) == "true" then i = i + 4 return true
    elseif s:sub(i, i + 4) == "false" then i = i + 5 return false
    elseif s:sub(i, i + 3) == "null" then i = i + 4 return nil
    else
      local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
      if not num or num == "" then error("json: unexpected '" .. c .. "' at " .. i) end
      i = i + #num
      return math.tointeger(tonumber(num)) or tonumber(num)
    end
  end
  local v = value()
  ws()
  if i <= #s then error("json: trailing data at " .. i) end
  return v
end

return fx
