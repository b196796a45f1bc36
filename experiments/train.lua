-- Train one model at one softmax temperature on a real data set and report clean test
-- accuracy: the building block of the paper's accuracy-versus-τ tables.
--   bin/tau experiments/train.lua --data cifar10 --root data --model resnet20 --epochs 30 --tau 1
local argparse = require "argparse"
local util = require "tau.util"

local parser = argparse("train.lua", "Train a model at a softmax temperature.")
parser:option("--data", "fashion_mnist | cifar10 | cifar100 | tiny_imagenet", "cifar10")
parser:option("--root", "Data set folder (not needed for fashion_mnist).", "data")
parser:option("--model", "cnn | resnet20 | resnet32 | resnet56 | resnet18 | resnet50 | vit | mlp", "resnet20")
parser:option("--width", "Model width (resnet: channels of the widest CIFAR stage ×4 / first stage for ImageNet depths; vit: dim).")
parser:option("--epochs", "Epochs.", "30"):convert(tonumber)
parser:option("--batch", "Batch size.", "128"):convert(tonumber)
parser:option("--lr", "Peak learning rate (SGD; AdamW for vit).")
parser:option("--tau", "Softmax temperature of the training loss.", "1"):convert(tonumber)
parser:option("--seed", "Random seed.", "1"):convert(tonumber)
parser:option("--train-limit", "Use only the first N training images (0: all).", "0"):convert(tonumber)
parser:option("--steps", "Stop each epoch after this many steps (0: full epochs).", "0"):convert(tonumber)
parser:option("--threads", "Threads (default: all cores).", "0"):convert(tonumber)
parser:option("--out", "Results prefix (CSV, JSONL, checkpoint).", "results/train")
parser:flag("--resume", "Resume from the checkpoint at <out>.safetensors.")
local args = parser:parse()
if args.threads > 0 then tau.set_num_threads(args.threads) end

local split_test = args.data == "tiny_imagenet" and "val" or "test"
local function load(split)
  if args.data == "fashion_mnist" then return tau.data.fashion_mnist{split = split} end
  return tau.data[args.data]{root = args.root, split = split}
end
local train_ds, test_ds = load("train"), load(split_test)
if args.train_limit > 0 then train_ds = train_ds:subset(args.train_limit) end
local stats = tau.data.stats[args.data] or {mean = 0.5, std = 0.25}
local c, h = train_ds.channels, train_ds.height

tau.manual_seed(args.seed)
local net, opt
local classes = train_ds.classes
if args.model == "vit" then
  local dim = tonumber(args.width) or 128
  net = tau.models.vit{patch = h >= 64 and 8 or 4, dim = dim, depth = 6, heads = 4, mlp = 2 * dim, classes = classes,
                       image = h, channels = c}
elseif args.model:match("^resnet") then
  net = tau.models.resnet{depth = tonumber(args.model:match("%d+")), width = tonumber(args.width) or 64,
                          classes = classes, channels = c}
else
  net = tau.models[args.model]{channels = c, classes = classes, image = h}
end
local model = tau.nn.Sequential{tau.nn.Normalize(stats.mean, stats.std), net}
local steps = args.steps > 0 and args.steps or (train_ds:size() + args.batch - 1) // args.batch
if args.model == "vit" then
  opt = tau.optim.AdamW(model:parameters(), {lr = tonumber(args.lr) or 1e-3, weight_decay = 0.05})
else
  opt = tau.optim.SGD(model:parameters(), {lr = tonumber(args.lr) or 0.1, momentum = 0.9, weight_decay = 5e-4,
                                           nesterov = true})
end
local sched = tau.optim.cosine(opt, {epochs = args.epochs, warmup = 1, steps_per_epoch = steps})
print(string.format("%s: %d training, %d test images, %dx%dx%d; %s (%d parameters), tau %g, %d threads",
                    args.data, train_ds:size(), test_ds:size(), c, h, train_ds.width, args.model,
                    model:num_parameters(), args.tau, tau.get_num_threads()))
local t0 = tau.time()
local rows, status = tau.train.fit(model, train_ds, {
  epochs = args.epochs, batch = args.batch, opt = opt, schedule = sched, tau = args.tau, seed = args.seed,
  eval_ds = test_ds, augment = c == 3 and {crop = h // 8, flip = true} or nil, max_steps = args.steps > 0 and args.steps or nil,
  log = args.out, checkpoint = args.out .. ".safetensors", resume = args.resume and (args.out .. ".safetensors") or nil})
if status ~= "done" then os.exit(130) end
local final = rows[#rows]
print(string.format("final: test accuracy %.2f%% after %d epochs, %s", 100 * final.eval_acc, #rows,
                    util.format_time(tau.time() - t0)))
tau.save(args.out .. ".model.safetensors", model:state_dict(), {tau = args.tau, model = args.model, data = args.data})
