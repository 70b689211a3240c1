# bash completion for kyso, the PIN and key tool.
# Installed as $datadir/bash-completion/completions/kyso.

_kyso()
{
    local cur prev words cword
    _init_completion || return

    local commands="list pin puk key csr cert import sign verify selftest mgmkey reset diag browser help"
    local common="--token --json --help"

    case $prev in
        --token|-t)
            # The serial numbers of the tokens present, from kyso itself.
            local serials
            serials=$(kyso --json list 2>/dev/null |
                grep -o '"serial":"[^"]*"' | sed 's/"serial":"\(.*\)"/\1/')
            COMPREPLY=($(compgen -W "$serials" -- "$cur"))
            return
            ;;
        --slot|-s)
            COMPREPLY=($(compgen -W "9a 9c 9d 9e 82 83 84 85 86 87 88 89 8a 8b 8c 8d 8e 8f 90 91 92 93 94 95" -- "$cur"))
            return
            ;;
        --type)
            COMPREPLY=($(compgen -W "rsa2048 rsa3072 rsa4096 p256 p384" -- "$cur"))
            return
            ;;
        --format)
            COMPREPLY=($(compgen -W "pem der" -- "$cur"))
            return
            ;;
        --pin-source|--puk-source|--new-pin-source|--password-source|--mgmt-key-source|--new-mgmt-key-source)
            if [[ $cur == file:* ]]; then
                local path=${cur#file:}
                COMPREPLY=($(compgen -f -P file: -- "$path"))
            else
                COMPREPLY=($(compgen -W "stdin file: env:" -- "$cur"))
                compopt -o nospace
            fi
            return
            ;;
        --out|-o|--pubkey|--ca)
            _filedir
            return
            ;;
        --module)
            _filedir so
            return
            ;;
        --subject|--pin|--puk|--new-pin|--confirm)
            return
            ;;
    esac

    # The command words typed so far (options and their values skipped).
    local i cmd="" sub=""
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --token|-t|--slot|-s|--type|--format|--out|-o|--pubkey|--ca|--subject|\
            --pin|--puk|--new-pin|--confirm|--pin-source|--puk-source|--new-pin-source|\
            --password-source|--mgmt-key-source|--new-mgmt-key-source|--module)
                ((i++))
                ;;
            -*) ;;
            *)
                if [[ -z $cmd ]]; then
                    cmd=${words[i]}
                elif [[ -z $sub ]]; then
                    sub=${words[i]}
                fi
                ;;
        esac
    done

    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "$common --version" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        fi
        return
    fi

    local opts=""
    case $cmd in
        pin)
            [[ -z $sub ]] && { COMPREPLY=($(compgen -W "status change unblock" -- "$cur")); return; }
            case $sub in
                change) opts="--pin-source --pin --new-pin-source --new-pin --yes-last-try --force" ;;
                unblock) opts="--puk-source --puk --new-pin-source --new-pin --yes-last-try --force" ;;
            esac
            ;;
        puk)
            [[ -z $sub ]] && { COMPREPLY=($(compgen -W "change" -- "$cur")); return; }
            opts="--puk-source --puk --new-pin-source --new-pin --yes-last-try --force"
            ;;
        key)
            [[ -z $sub ]] && { COMPREPLY=($(compgen -W "generate" -- "$cur")); return; }
            opts="--slot --type --out --mgmt-key-source --yes --force"
            ;;
        cert)
            [[ -z $sub ]] && { COMPREPLY=($(compgen -W "import export delete" -- "$cur")); return; }
            case $sub in
                import) opts="--slot --mgmt-key-source --pin-source --yes-last-try --force" ;;
                export) opts="--slot --out --format" ;;
                delete) opts="--slot --mgmt-key-source --yes --force" ;;
            esac
            if [[ $sub == import && $cur != -* ]]; then
                _filedir '@(pem|crt|cer|der)'
                return
            fi
            ;;
        mgmkey)
            [[ -z $sub ]] && { COMPREPLY=($(compgen -W "change" -- "$cur")); return; }
            opts="--mgmt-key-source --new-mgmt-key-source --generate"
            ;;
        csr) opts="--slot --subject --out --pubkey --pin-source --pin --yes-last-try --force" ;;
        import)
            opts="--slot --password-source --mgmt-key-source --yes --force"
            if [[ $cur != -* ]]; then
                _filedir '@(p12|pfx)'
                return
            fi
            ;;
        sign)
            opts="--slot --out --pin-source --pin --yes-last-try --force"
            if [[ $cur != -* ]]; then
                _filedir
                return
            fi
            ;;
        verify)
            opts="--ca"
            if [[ $cur != -* ]]; then
                _filedir
                return
            fi
            ;;
        selftest) opts="--pin-source --pin --yes-last-try --force" ;;
        browser)
            [[ -z $sub ]] && { COMPREPLY=($(compgen -W "register unregister status" -- "$cur")); return; }
            case $sub in
                register|status) opts="--module" ;;
            esac
            # --token does not apply to the browser commands.
            COMPREPLY=($(compgen -W "$opts --json --help" -- "$cur"))
            return
            ;;
        reset) opts="--confirm" ;;
        help)
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
            return
            ;;
    esac
    COMPREPLY=($(compgen -W "$opts $common" -- "$cur"))
} &&
    complete -F _kyso kyso
